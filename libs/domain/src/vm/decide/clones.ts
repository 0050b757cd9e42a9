/** Copies of a VM: clones (full or linked) and instant clones forked from it while it runs. */
import { IllegalStateError, RuleViolationError } from '../../shared/errors';
import { guardPoolVm } from '../pool-protection';
import type {
  AttachLinkedClone,
  FinishClone,
  FinishFork,
  ReleaseLinkedClone,
  StartClone,
  StartFork,
} from '../vm.commands';
import type { VmEvent } from '../vm.events';
import { type VmState, isTemplate } from '../vm.state';
import { existing, guarded, snapshotOf } from './preconditions';

export function startClone(command: StartClone, state: VmState): VmEvent[] {
  const { requester, ...data } = command.data;
  const { vmId, snapshotId, linked } = data;
  const vm = existing(state, vmId);
  guardPoolVm(vm, 'clone', requester);
  if (vm.lifecycle !== 'ready')
    throw new IllegalStateError(
      vm.lifecycle === 'provisioning' ? 'VM.PROVISIONING' : 'VM.BEING_DELETED',
      `${vm.name} cannot be cloned now (${vm.lifecycle})`,
    );
  if (vm.role === 'instant-clone')
    throw new IllegalStateError(
      'VM.INSTANT_CLONE',
      `${vm.name} is an instant clone of a pool: it cannot be cloned`,
    );
  if (snapshotId !== null) snapshotOf(vm, snapshotId);
  // A linked clone is a new delta over frozen layers: a snapshot's, or a template's (frozen as a whole).
  if (linked && snapshotId === null && !isTemplate(vm)) {
    throw new RuleViolationError(
      'CLONE.LINKED_NEEDS_SNAPSHOT',
      'A linked clone stands on a snapshot',
      [
        {
          code: 'CLONE.LINKED_NEEDS_SNAPSHOT',
          detail: `${vm.name} is a VM: name one of its snapshots to stand on`,
          pointer: '/snapshotId',
        },
      ],
    );
  }
  if (linked && data.format !== 'same') {
    throw new RuleViolationError(
      'CLONE.LINKED_HAS_NO_FORMAT',
      'A linked clone copies nothing, so it takes no disk format',
      [
        {
          code: 'CLONE.LINKED_HAS_NO_FORMAT',
          detail: 'format must be "same" for a linked clone',
          pointer: '/format',
        },
      ],
    );
  }
  return [{ type: 'VmBeingCloned', data }];
}

export function finishClone(command: FinishClone, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  const clone = vm.clones.find((c) => c.taskId === command.data.taskId);
  if (!clone)
    throw new IllegalStateError(
      'VM.NOT_BEING_CLONED',
      `${vm.name} has no clone under task ${command.data.taskId}`,
    );
  return [{ type: 'VmCloneFinished', data: { ...command.data, linked: clone.linked } }];
}

/** Instant clones fork from a running VM (a pool's parent, or any running VM as vSphere allows). */
export function startFork(command: StartFork, state: VmState): VmEvent[] {
  const { requester, ...data } = command.data;
  const { vm } = guarded(state, data.vmId, 'fork', requester);
  if (isTemplate(vm))
    throw new IllegalStateError(
      'FORK.SOURCE_IS_TEMPLATE',
      `${vm.name} is a template: instant clones fork from a running VM`,
    );
  if (vm.role === 'instant-clone')
    throw new IllegalStateError(
      'FORK.SOURCE_IS_INSTANT_CLONE',
      `${vm.name} is an instant clone: instant clones fork from their pool's parent`,
    );
  if (vm.powerState !== 'poweredOn')
    throw new IllegalStateError(
      vm.powerState === 'suspended' ? 'FORK.SOURCE_SUSPENDED' : 'FORK.SOURCE_POWERED_OFF',
      `${vm.name} is ${vm.powerState}: instant clones fork from a running VM, with no boot`,
    );
  return [{ type: 'VmForkStarted', data }];
}

export function finishFork(command: FinishFork, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (!vm.forks.some((f) => f.taskId === command.data.taskId))
    throw new IllegalStateError(
      'VM.NOT_BEING_FORKED',
      `${vm.name} has no fork under task ${command.data.taskId}`,
    );
  return [{ type: 'VmForkFinished', data: command.data }];
}

export function attachLinkedClone(command: AttachLinkedClone, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (vm.linkedClones.includes(command.data.dependantVmId)) return [];
  return [{ type: 'VmLinkedCloneAttached', data: command.data }];
}

export function releaseLinkedClone(command: ReleaseLinkedClone, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (!vm.linkedClones.includes(command.data.dependantVmId)) return [];
  return [{ type: 'VmLinkedCloneReleased', data: command.data }];
}
