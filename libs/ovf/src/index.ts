export * from './model';
export * from './descriptor';
