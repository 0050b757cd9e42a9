export * from './projection';
export * from './projector-engine';
export * from './rebuild';
export * from './entities';
export * from './as-of';
export {
  vmsProjection,
  hostsProjection,
  datastoresProjection,
  poolsProjection,
} from './inventory/inventory.projection';
export { SNAPSHOT_EVERY, SNAPSHOT_TABLE, type StateProjection } from './inventory/state-projection';
export * from './tasks/task-progress';
