export * from './model';
export * from './descriptor';
export * from './package';
