/** OVF packages: a VM imported from one, a VM or template exported as one. */
import { IllegalStateError } from '../../shared/errors';
import type { FinishExport, RecordImported, StartExport } from '../vm.commands';
import type { VmEvent } from '../vm.events';
import type { VmState } from '../vm.state';
import { busyWith, idle, provisioningBy, snapshotOf } from './preconditions';

/**
 * vSphere exports a powered-off VM (or a template) as it is; a running VM only from a snapshot,
 * whose layers are frozen. Until the export ends the VM takes no other exclusive operation.
 */
export function startExport(command: StartExport, state: VmState): VmEvent[] {
  const vm = idle(state, command.data.vmId);
  if (command.data.snapshotId !== null) snapshotOf(vm, command.data.snapshotId);
  else if (vm.powerState !== 'poweredOff') {
    throw new IllegalStateError(
      'VM.NOT_POWERED_OFF',
      `${vm.name} is ${vm.powerState}: power it off, or export one of its snapshots`,
    );
  }
  return [{ type: 'VmExportStarted', data: command.data }];
}

export function finishExport(command: FinishExport, state: VmState): VmEvent[] {
  busyWith(state, command.data.vmId, command.data.taskId, 'export');
  return [{ type: 'VmExportFinished', data: command.data }];
}

export function recordImported(command: RecordImported, state: VmState): VmEvent[] {
  const vm = provisioningBy(state, command.data.vmId, command.data.taskId);
  if (vm.origin.kind !== 'import')
    throw new IllegalStateError('VM.NOT_IMPORTED', `${vm.name} was not imported`);
  return [{ type: 'VmImported', data: command.data }];
}
