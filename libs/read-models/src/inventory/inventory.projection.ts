import {
  type DatastoreState,
  type HostState,
  type PoolState,
  poolDecider,
  type VmState,
  type WorkerState,
  accessibilityOf,
  datastoreDecider,
  hostDecider,
  spaceTotals,
  vmDecider,
  workerDecider,
} from '@dolly/domain';
import { stateProjection } from './state-projection';

type Fold<State> = { evolve(state: State, event: never): State; initialState(): State };
const fold = <State>(decider: Fold<State>) => ({
  evolve: decider.evolve as (state: State, event: unknown) => State,
  initialState: decider.initialState,
});

export const hostsProjection = stateProjection<HostState>({
  name: 'hosts',
  table: 'hosts',
  key: 'host_id',
  streamType: 'host',
  ...fold(hostDecider),
  createdColumn: 'registered_at',
  versioned: false,
  columns: (host) =>
    host.status === 'registered' ? { name: host.name, management: host.management } : null,
});

export const datastoresProjection = stateProjection<DatastoreState>({
  name: 'datastores',
  table: 'datastores',
  key: 'datastore_id',
  streamType: 'datastore',
  ...fold(datastoreDecider),
  createdColumn: 'registered_at',
  versioned: false,
  columns: (datastore) => {
    if (datastore.status !== 'registered') return null;
    const totals = spaceTotals(datastore);
    const { accessibility, reason } = accessibilityOf(datastore);
    return {
      name: datastore.name,
      capacity_bytes: datastore.capacityBytes,
      claimed_physical_bytes: totals.physicalBytes,
      claimed_provisioned_bytes: totals.provisionedBytes,
      accessibility,
      accessibility_reason: reason,
    };
  },
});

/** VMs and templates as the inventory shows them; deleted ones (and clones that never came to be) leave it. */
export const vmsProjection = stateProjection<VmState>({
  name: 'vms',
  table: 'vms',
  key: 'vm_id',
  streamType: 'vm',
  ...fold(vmDecider),
  createdColumn: 'created_at',
  versioned: true,
  columns: (vm) =>
    vm.status === 'present'
      ? {
          name: vm.name,
          role: vm.role,
          power_state: vm.powerState,
          lifecycle: vm.lifecycle,
          host_id: vm.hostId,
          datastore_id: vm.datastoreId,
        }
      : null,
});

/** Workers and the datastores they serve: what placement chooses from. */
export const workersProjection = stateProjection<WorkerState>({
  name: 'workers',
  table: 'workers',
  key: 'worker_id',
  streamType: 'worker',
  ...fold(workerDecider),
  createdColumn: 'announced_at',
  versioned: false,
  columns: (worker) =>
    worker.status === 'announced'
      ? { worker_group: worker.group, datastore_ids: worker.datastoreIds }
      : null,
});

/** Desktop pools: their settings, image, machines and who uses them; deleted pools leave. */
export const poolsProjection = stateProjection<PoolState>({
  name: 'pools',
  table: 'pools',
  key: 'pool_id',
  streamType: 'pool',
  ...fold(poolDecider),
  createdColumn: 'created_at',
  versioned: true,
  columns: (pool) =>
    pool.status === 'present'
      ? {
          name: pool.settings.name,
          lifecycle: pool.lifecycle,
          image_status: pool.imageStatus,
          machines: pool.machines.length,
          assigned: pool.machines.filter((machine) => machine.userId !== null).length,
        }
      : null,
});
