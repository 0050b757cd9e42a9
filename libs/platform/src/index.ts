export * from './auth';
export * from './health';
export * from './http';
export * from './metrics';
export * from './platform.module';
export * from './problem';
export * from './tokens';
export * from './validation';
