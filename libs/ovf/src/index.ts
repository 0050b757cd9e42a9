export * from './model';
export * from './package';
