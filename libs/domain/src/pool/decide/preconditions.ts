/** What a command on a pool needs of it before it decides anything: each throws when it fails. */
import { IllegalStateError, NotFoundError } from '../../shared/errors';
import type { ExistingPool, PoolMachine, PoolState } from '../pool.state';

export function existing(state: PoolState, poolId: string): ExistingPool {
  if (state.status !== 'present')
    throw new NotFoundError('POOL.NOT_FOUND', `Pool ${poolId} does not exist`);
  return state;
}

export function active(state: PoolState, poolId: string): ExistingPool {
  const pool = existing(state, poolId);
  if (pool.lifecycle === 'deleting')
    throw new IllegalStateError(
      'POOL.BEING_DELETED',
      `Pool ${pool.settings.name} is being deleted`,
    );
  return pool;
}

export function machineOf(pool: ExistingPool, vmId: string): PoolMachine {
  const machine = pool.machines.find((m) => m.vmId === vmId);
  if (!machine)
    throw new NotFoundError(
      'POOL.MACHINE_NOT_FOUND',
      `Pool ${pool.settings.name} has no machine ${vmId}`,
    );
  return machine;
}
