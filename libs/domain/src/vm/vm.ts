import type { DatastoreState } from '../datastore/datastore';
import type { HostState } from '../host/host';
import { type Command, type Decider, assertNever } from '../shared/decider';
import {
  type ErrorReason,
  IllegalStateError,
  NotFoundError,
  ValidationError,
  refuseIfAny,
} from '../shared/errors';
import { hardwareVersionNumber } from '../shared/hardware-version';
import type {
  Nic,
  PowerState,
  VirtualDisk,
  VirtualHardware,
  VmCreated,
  VmEvent,
  VmRole,
} from './vm.events';

export type ExistingVm = {
  vmId: string;
  name: string;
  folder: string;
  role: VmRole;
  hostId: string;
  datastoreId: string;
  hardware: VirtualHardware;
  disks: VirtualDisk[];
  nics: Nic[];
  biosUuid: string;
  powerState: PowerState;
};

export type VmState =
  { status: 'absent' } | ({ status: 'present' } & ExistingVm) | { status: 'deleted'; vmId: string };

export const vmStreamId = (vmId: string) => `vm-${vmId}`;

export type CreateVm = Command<'CreateVm', Omit<VmCreated['data'], 'role'>>;
export type PowerOnVm = Command<'PowerOnVm', { vmId: string }>;
export type PowerOffVm = Command<'PowerOffVm', { vmId: string }>;
export type SuspendVm = Command<'SuspendVm', { vmId: string }>;
export type RenameVm = Command<'RenameVm', { vmId: string; name: string }>;
export type DeleteVm = Command<'DeleteVm', { vmId: string }>;
export type ConvertVmToTemplate = Command<'ConvertVmToTemplate', { vmId: string }>;
export type ConvertTemplateToVm = Command<'ConvertTemplateToVm', { vmId: string }>;

export type VmCommand =
  | CreateVm
  | PowerOnVm
  | PowerOffVm
  | SuspendVm
  | RenameVm
  | DeleteVm
  | ConvertVmToTemplate
  | ConvertTemplateToVm;

/** What deciding a VM command may need to know beyond the VM's own stream. */
export type VmContext = { host?: HostState; datastore?: DatastoreState };

function existing(state: VmState, vmId: string): ExistingVm {
  if (state.status !== 'present')
    throw new NotFoundError('VM.NOT_FOUND', `VM ${vmId} does not exist`);
  return state;
}

const isTemplate = (vm: ExistingVm) => vm.role === 'template';

function duplicates<T>(values: readonly T[]): T[] {
  return values.filter((value, index) => values.indexOf(value) !== index);
}

function placementReasons(data: CreateVm['data'], context: VmContext): ErrorReason[] {
  const reasons: ErrorReason[] = [];
  const { host, datastore } = context;
  if (!host || host.status !== 'registered') {
    reasons.push({
      code: 'HOST.NOT_FOUND',
      detail: `Host ${data.hostId} is not registered`,
      pointer: '/hostId',
    });
  } else {
    if (
      hardwareVersionNumber(data.hardware.hardwareVersion) >
      hardwareVersionNumber(host.maxHardwareVersion)
    ) {
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

function createVm(command: CreateVm, state: VmState, context: VmContext): VmEvent[] {
  if (state.status !== 'absent') {
    throw new IllegalStateError('VM.ALREADY_EXISTS', `VM ${command.data.vmId} already exists`);
  }
  const repeated: ErrorReason[] = [
    ...duplicates(command.data.disks.map((disk) => disk.diskId)).map((diskId) => ({
      code: 'VM.DUPLICATE_DISK_ID',
      detail: `Disk id ${diskId} appears more than once`,
      pointer: '/disks',
    })),
    ...duplicates(command.data.disks.map((disk) => disk.label)).map((label) => ({
      code: 'VM.DUPLICATE_DISK_LABEL',
      detail: `Disk label '${label}' appears more than once`,
      pointer: '/disks',
    })),
    ...duplicates(command.data.nics.map((nic) => nic.macAddress)).map((mac) => ({
      code: 'VM.DUPLICATE_MAC_ADDRESS',
      detail: `MAC address ${mac} appears more than once`,
      pointer: '/nics',
    })),
  ];
  if (repeated.length > 0)
    throw new ValidationError('VM.INVALID', 'The VM definition repeats itself', repeated);
  refuseIfAny(
    'VM.PLACEMENT_REFUSED',
    'The VM cannot be placed where asked',
    placementReasons(command.data, context),
  );
  return [{ type: 'VmCreated', data: { ...command.data, role: 'vm' } }];
}

function powerOn(command: PowerOnVm, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (isTemplate(vm))
    throw new IllegalStateError(
      'VM.IS_TEMPLATE',
      `${vm.name} is a template: templates cannot be powered on`,
    );
  if (vm.powerState === 'poweredOn')
    throw new IllegalStateError('VM.ALREADY_POWERED_ON', `${vm.name} is already powered on`);
  return [
    {
      type: 'VmPoweredOn',
      data: { vmId: vm.vmId, resumedFromSuspend: vm.powerState === 'suspended' },
    },
  ];
}

function powerOff(command: PowerOffVm, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (vm.powerState === 'poweredOff')
    throw new IllegalStateError('VM.ALREADY_POWERED_OFF', `${vm.name} is already powered off`);
  return [{ type: 'VmPoweredOff', data: { vmId: vm.vmId } }];
}

function suspend(command: SuspendVm, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (vm.powerState !== 'poweredOn') {
    throw new IllegalStateError(
      'VM.NOT_POWERED_ON',
      `${vm.name} is ${vm.powerState}: only a running VM can be suspended`,
    );
  }
  return [{ type: 'VmSuspended', data: { vmId: vm.vmId } }];
}

function rename(command: RenameVm, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (vm.name === command.data.name) return [];
  return [
    { type: 'VmRenamed', data: { vmId: vm.vmId, name: command.data.name, previousName: vm.name } },
  ];
}

function deleteVm(command: DeleteVm, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (vm.powerState !== 'poweredOff') {
    throw new IllegalStateError(
      'VM.NOT_POWERED_OFF',
      `${vm.name} is ${vm.powerState}: power it off before deleting it`,
    );
  }
  return [{ type: 'VmDeleted', data: { vmId: vm.vmId } }];
}

function convertToTemplate(command: ConvertVmToTemplate, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (vm.role !== 'vm') {
    throw new IllegalStateError(
      'VM.NOT_CONVERTIBLE',
      `${vm.name} is a ${vm.role}: only a plain VM becomes a template`,
    );
  }
  if (vm.powerState !== 'poweredOff') {
    throw new IllegalStateError(
      'VM.NOT_POWERED_OFF',
      `${vm.name} is ${vm.powerState}: a running VM cannot be converted`,
    );
  }
  return [{ type: 'VmConvertedToTemplate', data: { vmId: vm.vmId } }];
}

function convertToVm(command: ConvertTemplateToVm, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (!isTemplate(vm))
    throw new IllegalStateError('VM.NOT_A_TEMPLATE', `${vm.name} is not a template`);
  return [{ type: 'TemplateConvertedToVm', data: { vmId: vm.vmId } }];
}

function evolvePresent(vm: ExistingVm, event: Exclude<VmEvent, VmCreated>): VmState {
  switch (event.type) {
    case 'VmPoweredOn':
      return { status: 'present', ...vm, powerState: 'poweredOn' };
    case 'VmPoweredOff':
      return { status: 'present', ...vm, powerState: 'poweredOff' };
    case 'VmSuspended':
      return { status: 'present', ...vm, powerState: 'suspended' };
    case 'VmRenamed':
      return { status: 'present', ...vm, name: event.data.name };
    case 'VmConvertedToTemplate':
      return { status: 'present', ...vm, role: 'template' };
    case 'TemplateConvertedToVm':
      return { status: 'present', ...vm, role: 'vm' };
    case 'VmDeleted':
      return { status: 'deleted', vmId: vm.vmId };
    default:
      return assertNever(event);
  }
}

export const vmDecider: Decider<VmState, VmCommand, VmEvent, VmContext> = {
  initialState: () => ({ status: 'absent' }),
  decide(command, state, context) {
    switch (command.type) {
      case 'CreateVm':
        return createVm(command, state, context);
      case 'PowerOnVm':
        return powerOn(command, state);
      case 'PowerOffVm':
        return powerOff(command, state);
      case 'SuspendVm':
        return suspend(command, state);
      case 'RenameVm':
        return rename(command, state);
      case 'DeleteVm':
        return deleteVm(command, state);
      case 'ConvertVmToTemplate':
        return convertToTemplate(command, state);
      case 'ConvertTemplateToVm':
        return convertToVm(command, state);
      default:
        return assertNever(command);
    }
  },
  evolve(state, event) {
    if (event.type === 'VmCreated') {
      const { vmId, name, folder, role, hostId, datastoreId, hardware, disks, nics, biosUuid } =
        event.data;
      return {
        status: 'present',
        vmId,
        name,
        folder,
        role,
        hostId,
        datastoreId,
        hardware,
        disks,
        nics,
        biosUuid,
        powerState: 'poweredOff',
      };
    }
    // Events arrive only for the stream's own VM, so a non-present state here means a corrupt stream.
    if (state.status !== 'present')
      throw new Error(`${event.type} applied to a VM that is ${state.status}`);
    return evolvePresent(state, event);
  },
};
