/** What a command on a VM needs of it before it decides anything: each throws when it fails. */
import { IllegalStateError, NotFoundError } from '../../shared/errors';
import { type VmOperation, guardPoolVm } from '../pool-protection';
import type { Requester } from '../vm.commands';
import type {
  BusyWith,
  ExclusiveOperation,
  ExistingVm,
  Snapshot,
  VmBusy,
  VmState,
} from '../vm.state';

export function existing(state: VmState, vmId: string): ExistingVm {
  if (state.status !== 'present')
    throw new NotFoundError('VM.NOT_FOUND', `VM ${vmId} does not exist`);
  return state;
}

/** Ready, and not in the middle of an operation that excludes others. */
export function idle(state: VmState, vmId: string): ExistingVm {
  const vm = existing(state, vmId);
  if (vm.lifecycle === 'provisioning')
    throw new IllegalStateError('VM.PROVISIONING', `${vm.name}'s disks are still being made`);
  if (vm.lifecycle === 'deleting')
    throw new IllegalStateError('VM.BEING_DELETED', `${vm.name} is being deleted`);
  if (vm.busy) {
    throw new IllegalStateError(
      'VM.BUSY',
      `${vm.name} is busy with another operation (${vm.busy.operation}, task ${vm.busy.taskId})`,
    );
  }
  return vm;
}

/**
 * Idle, once the pool's protection let the requester through: a pool's VM is refused as such,
 * whatever state it is in. Says whether it goes ahead by force.
 */
export function guarded(
  state: VmState,
  vmId: string,
  operation: VmOperation,
  requester: Requester | undefined,
): { vm: ExistingVm; forced: boolean } {
  const forced = guardPoolVm(existing(state, vmId), operation, requester);
  return { vm: idle(state, vmId), forced };
}

const isBusyWith = <Operation extends ExclusiveOperation>(
  busy: VmBusy | null,
  taskId: string,
  operation: Operation,
): busy is BusyWith<Operation> => busy?.taskId === taskId && busy.operation === operation;

/**
 * The worker reports the outcome of the operation the VM is busy with, and no other. Gives the
 * VM and what that operation recorded when it started.
 */
export function busyWith<Operation extends ExclusiveOperation>(
  state: VmState,
  vmId: string,
  taskId: string,
  operation: Operation,
): { vm: ExistingVm; busy: BusyWith<Operation> } {
  const vm = existing(state, vmId);
  const { busy } = vm;
  if (!isBusyWith(busy, taskId, operation)) {
    throw new IllegalStateError(
      'VM.NOT_BUSY_WITH_TASK',
      `${vm.name} is not running ${operation} task ${taskId}`,
    );
  }
  return { vm, busy };
}

export function provisioningBy(state: VmState, vmId: string, taskId: string): ExistingVm {
  const vm = existing(state, vmId);
  if (vm.lifecycle !== 'provisioning' || vm.provisioningTaskId !== taskId) {
    throw new IllegalStateError(
      'VM.NOT_PROVISIONING',
      `VM ${vmId} is not being made by task ${taskId}`,
    );
  }
  return vm;
}

export function snapshotOf(vm: ExistingVm, snapshotId: string): Snapshot {
  const snapshot = vm.snapshots.find((s) => s.snapshotId === snapshotId);
  if (!snapshot)
    throw new NotFoundError('SNAPSHOT.NOT_FOUND', `${vm.name} has no snapshot ${snapshotId}`);
  return snapshot;
}
