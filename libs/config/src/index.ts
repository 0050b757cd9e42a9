export * from './config';
export * from './service-node-flags';
