/**
 * Helpers for specs against the real services (`*.int-spec.ts`, `*.e2e-spec.ts`, benches): test
 * databases, isolated Kafka and PostgreSQL, TLS certificates, the built stack as processes. Loading
 * this entry loads kafkajs and pg: pure specs import `@dolly/testing/pure` instead (lint enforces
 * it), which this entry re-exports so an integration spec needs one import.
 */
export * from './pure';
export * from './test-database';
export * from './dolly-stack';
export * from './kafka-fixtures';
export * from './isolated-postgres';
export * from './tls-certificates';
export * from './vcsim';
export * from './ova-packages';
export * from './recorded-history';
export * from './generated-history';
