/** The pool itself: created, edited, deleted. */
import { IllegalStateError, ValidationError } from '../../shared/errors';
import type { CreatePool, DeletePool, EditPool } from '../pool.commands';
import type { PoolEvent } from '../pool.events';
import { settingsReasons } from '../pool-naming';
import { activeMachines } from '../pool.queries';
import type { PoolState } from '../pool.state';
import { active, existing } from './preconditions';

export function createPool(command: CreatePool, state: PoolState): PoolEvent[] {
  if (state.status !== 'absent')
    throw new IllegalStateError(
      'POOL.ALREADY_EXISTS',
      `Pool ${command.data.poolId} already exists`,
    );
  const reasons = settingsReasons(command.data.settings);
  if (reasons.length > 0)
    throw new ValidationError('POOL.INVALID', 'The pool settings do not hold', reasons);
  return [{ type: 'PoolCreated', data: command.data }];
}

export function editPool(command: EditPool, state: PoolState): PoolEvent[] {
  const pool = active(state, command.data.poolId);
  const next = {
    name: command.data.name ?? pool.settings.name,
    maxMachines: command.data.maxMachines ?? pool.settings.maxMachines,
    spareMachines: command.data.spareMachines ?? pool.settings.spareMachines,
  };
  const reasons = settingsReasons({ ...next, namingPattern: pool.settings.namingPattern });
  const inUse = activeMachines(pool).length;
  if (next.maxMachines < inUse) {
    reasons.push({
      code: 'POOL.MAXIMUM_BELOW_MACHINES',
      detail: `The pool has ${inUse} machines; delete some (users log off) before lowering its maximum to ${next.maxMachines}`,
      pointer: '/maxMachines',
    });
  }
  if (reasons.length > 0)
    throw new ValidationError('POOL.INVALID', 'The pool settings do not hold', reasons);
  const { name, maxMachines, spareMachines } = pool.settings;
  if (
    name === next.name &&
    maxMachines === next.maxMachines &&
    spareMachines === next.spareMachines
  )
    return [];
  return [{ type: 'PoolEdited', data: { poolId: pool.poolId, ...next } }];
}

export function deletePool(command: DeletePool, state: PoolState): PoolEvent[] {
  const { poolId } = command.data;
  const pool = existing(state, poolId);
  if (pool.lifecycle === 'deleting') return [];
  const requested: PoolEvent = { type: 'PoolDeletionRequested', data: { poolId } };
  // A pool whose image never came to be has nothing to remove.
  return pool.machines.length + pool.internalVms.length === 0
    ? [requested, { type: 'PoolDeleted', data: { poolId } }]
    : [requested];
}
