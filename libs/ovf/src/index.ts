export * from './model';
export * from './descriptor';
export * from './package';
export * from './disk';
export * from './export';
