export * from './event-catalog';
export * from './topics';
export * from './recorded-event';
export * from './cloud-events';
export * from './asyncapi';
export * from './published';
export * from './dead-letters';
export * from './message-checks';
