/** A VM comes to be: made new or as a clone, then its disks made by a task (or not). */
import {
  type ErrorReason,
  IllegalStateError,
  ValidationError,
  refuseIfAny,
} from '../../shared/errors';
import { hostCanRun } from '../../shared/hardware-version';
import type {
  CreateClone,
  CreateVm,
  RecordCloned,
  RecordForked,
  RecordProvisioned,
  RecordProvisioningFailed,
  VmContext,
  VmDefinition,
} from '../vm.commands';
import type { VmEvent } from '../vm.events';
import type { VmState } from '../vm.state';
import { provisioningBy } from './preconditions';

function duplicates<T>(values: readonly T[]): T[] {
  return values.filter((value, index) => values.indexOf(value) !== index);
}

function definitionReasons(data: VmDefinition): ErrorReason[] {
  return [
    ...duplicates(data.disks.map((disk) => disk.diskId)).map((diskId) => ({
      code: 'VM.DUPLICATE_DISK_ID',
      detail: `Disk id ${diskId} appears more than once`,
      pointer: '/disks',
    })),
    ...duplicates(data.disks.map((disk) => disk.label)).map((label) => ({
      code: 'VM.DUPLICATE_DISK_LABEL',
      detail: `Disk label '${label}' appears more than once`,
      pointer: '/disks',
    })),
    ...duplicates(data.nics.map((nic) => nic.macAddress)).map((mac) => ({
      code: 'VM.DUPLICATE_MAC_ADDRESS',
      detail: `MAC address ${mac} appears more than once`,
      pointer: '/nics',
    })),
  ];
}

/** Whether the host and datastore can take this VM; every reason at once. */
export function placementReasons(
  data: Pick<VmDefinition, 'hostId' | 'datastoreId' | 'hardware'>,
  context: VmContext,
): ErrorReason[] {
  const reasons: ErrorReason[] = [];
  const { host, datastore } = context;
  if (!host || host.status !== 'registered') {
    reasons.push({
      code: 'HOST.NOT_FOUND',
      detail: `Host ${data.hostId} is not registered`,
      pointer: '/hostId',
    });
  } else {
    if (!hostCanRun(host.maxHardwareVersion, data.hardware.hardwareVersion)) {
      reasons.push({
        code: 'HOST.HARDWARE_VERSION_UNSUPPORTED',
        detail: `Host ${host.name} runs up to ${host.maxHardwareVersion}, the VM needs ${data.hardware.hardwareVersion}`,
        pointer: '/hardware/hardwareVersion',
      });
    }
    if (data.hardware.vcpus > host.cpuCores) {
      reasons.push({
        code: 'HOST.NOT_ENOUGH_CPUS',
        detail: `Host ${host.name} has ${host.cpuCores} cores, the VM asks for ${data.hardware.vcpus} vCPUs`,
        pointer: '/hardware/vcpus',
      });
    }
    if (data.hardware.memoryBytes > host.memoryBytes) {
      reasons.push({
        code: 'HOST.NOT_ENOUGH_MEMORY',
        detail: `Host ${host.name} has ${host.memoryBytes} bytes of memory, the VM asks for ${data.hardware.memoryBytes}`,
        pointer: '/hardware/memoryBytes',
      });
    }
  }
  if (!datastore || datastore.status !== 'registered') {
    reasons.push({
      code: 'DATASTORE.NOT_FOUND',
      detail: `Datastore ${data.datastoreId} is not registered`,
      pointer: '/datastoreId',
    });
  }
  return reasons;
}

function newVm(data: VmDefinition, context: VmContext): void {
  const repeated = definitionReasons(data);
  if (repeated.length > 0)
    throw new ValidationError('VM.INVALID', 'The VM definition repeats itself', repeated);
  refuseIfAny(
    'VM.PLACEMENT_REFUSED',
    'The VM cannot be placed where asked',
    placementReasons(data, context),
  );
}

export function createVm(command: CreateVm, state: VmState, context: VmContext): VmEvent[] {
  if (state.status !== 'absent')
    throw new IllegalStateError('VM.ALREADY_EXISTS', `VM ${command.data.vmId} already exists`);
  newVm(command.data, context);
  if (command.data.disks.length > 0 !== (command.data.provisioningTaskId !== null)) {
    throw new Error('A VM with disks is made by a task, and only then');
  }
  return [
    {
      type: 'VmCreated',
      data: { ...command.data, role: 'vm', origin: { kind: 'new' }, poolId: null },
    },
  ];
}

export function createClone(command: CreateClone, state: VmState, context: VmContext): VmEvent[] {
  if (state.status !== 'absent')
    throw new IllegalStateError('VM.ALREADY_EXISTS', `VM ${command.data.vmId} already exists`);
  newVm(command.data, context);
  return [{ type: 'VmCreated', data: command.data }];
}

export function recordProvisioned(command: RecordProvisioned, state: VmState): VmEvent[] {
  provisioningBy(state, command.data.vmId, command.data.taskId);
  return [{ type: 'VmProvisioned', data: command.data }];
}

export function recordCloned(command: RecordCloned, state: VmState): VmEvent[] {
  const vm = provisioningBy(state, command.data.vmId, command.data.taskId);
  if (vm.origin.kind !== 'clone')
    throw new IllegalStateError('VM.NOT_A_CLONE', `${vm.name} is not a clone`);
  return [
    {
      type: 'VmCloned',
      data: { ...command.data, sourceVmId: vm.origin.sourceVmId, linked: vm.origin.linked },
    },
  ];
}

export function recordForked(command: RecordForked, state: VmState): VmEvent[] {
  const vm = provisioningBy(state, command.data.vmId, command.data.taskId);
  if (vm.origin.kind !== 'fork')
    throw new IllegalStateError('VM.NOT_A_FORK', `${vm.name} is not an instant clone`);
  return [{ type: 'VmForked', data: command.data }];
}

export function recordProvisioningFailed(
  command: RecordProvisioningFailed,
  state: VmState,
): VmEvent[] {
  provisioningBy(state, command.data.vmId, command.data.taskId);
  return [{ type: 'VmProvisioningFailed', data: command.data }];
}
