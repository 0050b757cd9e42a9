import { IllegalStateError } from '../shared/errors';
import type { Requester } from './vm.commands';
import type { VmRole } from './vm.events';
import type { ExistingVm } from './vm.state';

/** Roles a pool makes and removes itself. */
export const POOL_MANAGED_ROLES: readonly VmRole[] = [
  'internal-template',
  'replica',
  'parent',
  'instant-clone',
];

/** A pool's own VM: one of its chain, or a machine it forked (a fork made by hand is nobody's). */
const managedByPool = (vm: ExistingVm) =>
  POOL_MANAGED_ROLES.includes(vm.role) && !(vm.origin.kind === 'fork' && vm.origin.poolId === null);

/** The operations people ask of a VM, as its pool's protection tells them apart. */
export type VmOperation =
  'power' | 'refresh' | 'delete' | 'snapshot' | 'rename' | 'convert' | 'clone' | 'fork';

/** What an admin may force on a pool's desktop, when its pool cannot do it. */
export const FORCIBLE_OPERATIONS: readonly VmOperation[] = ['power', 'delete'];
/** What a pool does to its desktops on request (log off, refresh, remove). */
const THROUGH_THE_POOL: readonly VmOperation[] = ['power', 'refresh', 'delete'];

/** A person asking without force: who asks when a command names no requester. */
export const PERSON: Requester = { by: 'person', force: false };

/**
 * As Horizon protects its entities: a pool's internal template, replicas and parents take no
 * command but their own pool's; its desktops are powered, refreshed and removed through the pool
 * (log off, refresh, remove) and take nothing else, save power and delete that an admin forces.
 * Says whether the operation goes ahead by force (the event records it).
 */
export function guardPoolVm(
  vm: ExistingVm,
  operation: VmOperation,
  requester: Requester = PERSON,
): boolean {
  if (!managedByPool(vm)) return false;
  const pool = vm.poolId ? `pool ${vm.poolId}` : 'a pool';
  const refuse = (why: string) =>
    new IllegalStateError('VM.MANAGED_BY_POOL', `${vm.name} is ${why}`);
  if (requester.by === 'pool') {
    if (vm.poolId !== null && requester.poolId !== vm.poolId)
      throw refuse(`a ${vm.role} of ${pool}, not of pool ${requester.poolId}`);
    return false;
  }
  if (vm.role !== 'instant-clone')
    throw refuse(`the ${vm.role} of ${pool}: it takes no command but its pool's, not even forced`);
  if (requester.force && FORCIBLE_OPERATIONS.includes(operation)) return true;
  throw refuse(
    THROUGH_THE_POOL.includes(operation)
      ? `a desktop of ${pool}: it is powered, refreshed and removed through its pool (log off, refresh, remove)` +
          (FORCIBLE_OPERATIONS.includes(operation) ? '; an admin may force it' : '')
      : `a desktop of ${pool}: only its pool changes it`,
  );
}
