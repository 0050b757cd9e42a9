/** The pool removes its VMs (machines, and the chains of images no longer used) one by one. */
import { IllegalStateError, NotFoundError } from '../../shared/errors';
import type { RecordRemovalFailed, RecordVmRemoved, RequestVmRemoval } from '../pool.commands';
import type { PoolEvent } from '../pool.events';
import { type PoolState, evolvePool } from '../pool.state';
import { existing } from './preconditions';

export function requestVmRemoval(command: RequestVmRemoval, state: PoolState): PoolEvent[] {
  const pool = existing(state, command.data.poolId);
  const machine = pool.machines.find((m) => m.vmId === command.data.vmId);
  const internal = pool.internalVms.find((vm) => vm.vmId === command.data.vmId);
  if (!machine && !internal)
    throw new NotFoundError(
      'POOL.MACHINE_NOT_FOUND',
      `Pool ${pool.settings.name} has no VM ${command.data.vmId}`,
    );
  if (machine?.status === 'removing' || internal?.removing) return [];
  if (machine && machine.status !== 'ready' && machine.status !== 'lost')
    throw new IllegalStateError(
      'POOL.MACHINE_NOT_READY',
      `${machine.name} is ${machine.status}: it cannot be removed now`,
    );
  return [{ type: 'PoolVmRemovalRequested', data: command.data }];
}

export function recordRemovalFailed(command: RecordRemovalFailed, state: PoolState): PoolEvent[] {
  existing(state, command.data.poolId);
  return [{ type: 'PoolVmRemovalFailed', data: command.data }];
}

export function recordVmRemoved(command: RecordVmRemoved, state: PoolState): PoolEvent[] {
  const pool = existing(state, command.data.poolId);
  const removed: PoolEvent[] = [{ type: 'PoolVmRemoved', data: command.data }];
  const after = removed.reduce(evolvePool, state);
  const left = after.status === 'present' ? after.machines.length + after.internalVms.length : 0;
  return pool.lifecycle === 'deleting' && left === 0
    ? [...removed, { type: 'PoolDeleted', data: { poolId: pool.poolId } }]
    : removed;
}
