export * from './database';
export * from './data-source';
export * from './migrations';
export * from './roles';
export * from './setup';
