/**
 * Helpers for pure specs (`*.spec.ts`): given/when/then over deciders and event fixtures. They
 * load nothing of the infrastructure (no Kafka, no PostgreSQL, no processes), so a domain spec
 * stays as fast and as pure as the code it checks. The infrastructure helpers are `@dolly/testing`.
 */
export * from './decider-specification';
export * from './event-fixtures';
export * from './pool-fixtures';
export * from './workflow-specification';
export * from './inventory-fixtures';
export * from './garbage';
export * from './ovf-descriptors';
