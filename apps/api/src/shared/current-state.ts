import {
  type ExistingPool,
  type ExistingVm,
  NotFoundError,
  poolDecider,
  poolStreamId,
  vmDecider,
  vmStreamId,
} from '@dolly/domain';
import { type PostgresEventStore, streamState } from '@dolly/event-store';

/**
 * A VM as its stream says now, for what must be known before deciding (where it is decides
 * which workers do the work); the decision itself reads it again.
 */
export async function currentVm(store: PostgresEventStore, vmId: string): Promise<ExistingVm> {
  const state = await streamState(store, vmDecider, vmStreamId(vmId));
  if (state.status !== 'present')
    throw new NotFoundError('VM.NOT_FOUND', `VM ${vmId} does not exist`);
  return state;
}

/** A pool as its stream says now (where it stands, which VMs it has). */
export async function currentPool(
  store: PostgresEventStore,
  poolId: string,
): Promise<ExistingPool> {
  const state = await streamState(store, poolDecider, poolStreamId(poolId));
  if (state.status !== 'present')
    throw new NotFoundError('POOL.NOT_FOUND', `Pool ${poolId} does not exist`);
  return state;
}
