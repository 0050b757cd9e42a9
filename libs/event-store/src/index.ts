export * from './event-store';
export * from './command-handler';
export * from './outbox-relay';
export * from './batched-appends';
export * from './slots';
export * from './workspace-decision';
export * from './genuine-events';
export * from './check-out';
