/** Snapshots: taken, reverted to, deleted. */
import { IllegalStateError, RuleViolationError } from '../../shared/errors';
import type {
  DeleteSnapshot,
  RecordReverted,
  RecordSnapshotDeleted,
  RecordSnapshotTaken,
  RevertToSnapshot,
  TakeSnapshot,
} from '../vm.commands';
import type { VmEvent } from '../vm.events';
import { type VmState, isTemplate } from '../vm.state';
import { busyWith, guarded, snapshotOf } from './preconditions';

export function takeSnapshot(command: TakeSnapshot, state: VmState): VmEvent[] {
  const { requester, ...data } = command.data;
  const { vm } = guarded(state, data.vmId, 'snapshot', requester);
  if (isTemplate(vm))
    throw new IllegalStateError(
      'VM.IS_TEMPLATE',
      `${vm.name} is a template: its disks are frozen already`,
    );
  if (vm.snapshots.some((s) => s.snapshotId === data.snapshotId)) {
    throw new IllegalStateError('SNAPSHOT.ALREADY_EXISTS', `Snapshot ${data.snapshotId} exists`);
  }
  return [{ type: 'VmSnapshotRequested', data }];
}

export function revertToSnapshot(command: RevertToSnapshot, state: VmState): VmEvent[] {
  const { requester, ...data } = command.data;
  const { vm } = guarded(state, data.vmId, 'snapshot', requester);
  snapshotOf(vm, data.snapshotId);
  if (vm.powerState !== 'poweredOff') {
    throw new IllegalStateError(
      'VM.NOT_POWERED_OFF',
      `${vm.name} is ${vm.powerState}: power it off before reverting`,
    );
  }
  return [{ type: 'VmRevertRequested', data }];
}

export function deleteSnapshot(command: DeleteSnapshot, state: VmState): VmEvent[] {
  const { requester, ...data } = command.data;
  const { vm } = guarded(state, data.vmId, 'snapshot', requester);
  snapshotOf(vm, data.snapshotId);
  if (vm.linkedClones.length > 0) {
    throw new RuleViolationError(
      'SNAPSHOT.HAS_LINKED_CLONES',
      `Linked clones stand on ${vm.name}'s snapshots`,
      vm.linkedClones.map((dependant) => ({
        code: 'SNAPSHOT.LINKED_CLONE',
        detail: `Linked clone ${dependant} stands on this VM's layers: delete it or make it independent first`,
      })),
    );
  }
  return [{ type: 'VmSnapshotDeletionRequested', data }];
}

export function recordSnapshotTaken(command: RecordSnapshotTaken, state: VmState): VmEvent[] {
  const { vm, busy } = busyWith(state, command.data.vmId, command.data.taskId, 'snapshot');
  const { snapshotId, name, description } = busy.snapshot;
  return [
    {
      type: 'VmSnapshotTaken',
      data: {
        ...command.data,
        snapshotId,
        name,
        description,
        parentSnapshotId: vm.currentSnapshotId,
      },
    },
  ];
}

export function recordReverted(command: RecordReverted, state: VmState): VmEvent[] {
  const { busy } = busyWith(state, command.data.vmId, command.data.taskId, 'revert');
  return [
    {
      type: 'VmRevertedToSnapshot',
      data: { ...command.data, snapshotId: busy.snapshot.snapshotId },
    },
  ];
}

export function recordSnapshotDeleted(command: RecordSnapshotDeleted, state: VmState): VmEvent[] {
  const { busy } = busyWith(state, command.data.vmId, command.data.taskId, 'delete-snapshot');
  return [
    {
      type: 'VmSnapshotDeleted',
      data: { ...command.data, snapshotId: busy.snapshot.snapshotId },
    },
  ];
}
