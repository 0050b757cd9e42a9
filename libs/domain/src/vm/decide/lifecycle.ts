/** The VM itself: deleted, renamed, turned into a template and back; a task that failed. */
import { IllegalStateError, RuleViolationError } from '../../shared/errors';
import { PERSON, guardPoolVm } from '../pool-protection';
import type {
  ConvertTemplateToVm,
  ConvertVmToTemplate,
  DeleteVm,
  RecordDeleted,
  RecordTaskFailed,
  RenameVm,
} from '../vm.commands';
import type { VmEvent } from '../vm.events';
import { type VmState, isTemplate } from '../vm.state';
import { busyWith, existing, guarded } from './preconditions';

export function deleteVm(command: DeleteVm, state: VmState): VmEvent[] {
  const { requester = PERSON } = command.data;
  const { vm, forced } = guarded(state, command.data.vmId, 'delete', requester);
  // A pool removes its running clones at once (floating desktops at logoff), as does an admin
  // forcing it through the pool; people power off first.
  if (vm.powerState !== 'poweredOff' && requester.by === 'person' && !forced) {
    throw new IllegalStateError(
      'VM.NOT_POWERED_OFF',
      `${vm.name} is ${vm.powerState}: power it off before deleting it`,
    );
  }
  if (vm.clones.length > 0 || vm.forks.length > 0) {
    throw new IllegalStateError(
      'VM.BEING_CLONED',
      `${vm.name} is being cloned (task ${[...vm.clones, ...vm.forks].map((c) => c.taskId).join(', ')}): it cannot be deleted now`,
    );
  }
  if (vm.linkedClones.length > 0) {
    throw new RuleViolationError(
      'VM.HAS_LINKED_CLONES',
      `${vm.linkedClones.length} linked clone(s) stand on ${vm.name}: delete them or make them independent first`,
      vm.linkedClones.map((dependant) => ({
        code: 'VM.LINKED_CLONE',
        detail: `Linked clone ${dependant} stands on this ${vm.role}`,
      })),
    );
  }
  return [
    {
      type: 'VmDeletionRequested',
      data: { vmId: vm.vmId, taskId: command.data.taskId, forced },
    },
  ];
}

export function convertToTemplate(command: ConvertVmToTemplate, state: VmState): VmEvent[] {
  const { vm } = guarded(state, command.data.vmId, 'convert', command.data.requester);
  if (vm.role !== 'vm')
    throw new IllegalStateError(
      'VM.NOT_CONVERTIBLE',
      `${vm.name} is a ${vm.role}: only a plain VM becomes a template`,
    );
  if (vm.powerState !== 'poweredOff') {
    throw new IllegalStateError(
      'VM.NOT_POWERED_OFF',
      `${vm.name} is ${vm.powerState}: a running VM cannot be converted`,
    );
  }
  return [{ type: 'VmConvertedToTemplate', data: { vmId: vm.vmId } }];
}

export function convertToVm(command: ConvertTemplateToVm, state: VmState): VmEvent[] {
  const { vm } = guarded(state, command.data.vmId, 'convert', command.data.requester);
  if (!isTemplate(vm))
    throw new IllegalStateError('VM.NOT_A_TEMPLATE', `${vm.name} is not a template`);
  if (vm.linkedClones.length > 0) {
    throw new RuleViolationError(
      'VM.HAS_LINKED_CLONES',
      `Linked clones stand on ${vm.name}: a template they share cannot become writable`,
      vm.linkedClones.map((dependant) => ({
        code: 'VM.LINKED_CLONE',
        detail: `Linked clone ${dependant} stands on this template`,
      })),
    );
  }
  return [{ type: 'TemplateConvertedToVm', data: { vmId: vm.vmId } }];
}

export function recordDeleted(command: RecordDeleted, state: VmState): VmEvent[] {
  busyWith(state, command.data.vmId, command.data.taskId, 'delete');
  return [{ type: 'VmDeleted', data: command.data }];
}

export function recordTaskFailed(command: RecordTaskFailed, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (vm.busy?.taskId !== command.data.taskId) {
    throw new IllegalStateError(
      'VM.NOT_BUSY_WITH_TASK',
      `${vm.name} is not running task ${command.data.taskId}`,
    );
  }
  return [{ type: 'VmTaskFailed', data: { ...command.data, operation: vm.busy.operation } }];
}

export function renameVm(command: RenameVm, state: VmState): VmEvent[] {
  const { vmId, name } = command.data;
  const vm = existing(state, vmId);
  guardPoolVm(vm, 'rename', command.data.requester);
  if (vm.name === name) return [];
  return [{ type: 'VmRenamed', data: { vmId, name, previousName: vm.name } }];
}
