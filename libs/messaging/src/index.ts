export * from './kafka';
export * from './topics';
export * from './partitioning';
export * from './partition-tails';
export * from './event-publisher';
export * from './consumer-lag';
export * from './supervised-consumer';
export * from './dead-letters';
