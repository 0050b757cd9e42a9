export * from './event-store';
export * from './decide-across';
export * from './outbox-relay';
export * from './batched-appends';
export * from './slots';
export * from './genuine-events';
export * from './check-out';
export * from './streams-of-type';
