export * from './decider-specification';
export * from './test-database';
export * from './dolly-stack';
export * from './kafka-fixtures';
export * from './isolated-postgres';
export * from './event-fixtures';
export * from './pool-fixtures';
export * from './tls-certificates';
