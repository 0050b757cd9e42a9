import type { DatastoreState } from '../datastore/datastore';
import type { HostState } from '../host/host';
import { type Command, type Decider, assertNever } from '../shared/decider';
import {
  type ErrorReason,
  IllegalStateError,
  NotFoundError,
  RuleViolationError,
  ValidationError,
  refuseIfAny,
} from '../shared/errors';
import { hostCanRun } from '../shared/hardware-version';
import type {
  CloneFormat,
  DiskPlacement,
  LiveExport,
  Nic,
  PowerState,
  VirtualDisk,
  VirtualHardware,
  VmCreated,
  VmEvent,
  VmOrigin,
  VmRole,
} from './vm.events';

/**
 * A VM (or template) and the long operations on it. Operations that touch disks are tasks done
 * by a worker: the VM records that one started (and takes no conflicting one meanwhile), and the
 * worker records the outcome. Clones of a VM may run side by side; power, snapshot and delete
 * operations run one at a time.
 */
export type ExclusiveOperation =
  'power' | 'snapshot' | 'revert' | 'delete-snapshot' | 'delete' | 'refresh';

export interface Snapshot {
  snapshotId: string;
  name: string;
  description: string;
  parentSnapshotId: string | null;
  layers: { diskId: string; layerId: string }[];
}

export interface ExistingVm {
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
  origin: VmOrigin;
  /** The pool that made it and alone changes it; null for VMs people made. */
  poolId: string | null;
  /** provisioning: its disks are being made; ready: usable; deleting: on its way out. */
  lifecycle: 'provisioning' | 'ready' | 'deleting';
  provisioningTaskId: string | null;
  powerState: PowerState;
  /** Where each disk's writes go now. */
  placements: DiskPlacement[];
  /** Bytes each disk's whole chain holds, as last measured (what a flattened copy needs). */
  measuredBytes: Record<string, number>;
  /** A memory image its lost host left on the datastore: deleted with the VM. */
  strandedMemoryImageId: string | null;
  busy: {
    taskId: string;
    operation: ExclusiveOperation;
    powerTo?: PowerState;
    snapshot?: { snapshotId: string; name: string; description: string };
  } | null;
  /** Clones of this VM under way. */
  clones: { taskId: string; targetVmId: string; linked: boolean }[];
  /** Instant clones being forked from this running VM. */
  forks: { taskId: string; targetVmId: string }[];
  /** Linked clones standing on this VM's frozen layers. */
  linkedClones: string[];
  snapshots: Snapshot[];
  currentSnapshotId: string | null;
  /** Where it runs while powered on or suspended: the worker and its exports. */
  live: { workerId: string; exports: LiveExport[]; memoryImage: LiveExport } | null;
}

export type VmState =
  | { status: 'absent' }
  | ({ status: 'present' } & ExistingVm)
  | { status: 'deleted'; vmId: string }
  | { status: 'failed'; vmId: string };

export const vmStreamId = (vmId: string) => `vm-${vmId}`;

type VmId = { vmId: string };
type TaskRef = VmId & { taskId: string };
type Failure = TaskRef & { code: string; message: string };

/** Everything VmCreated says except what the decision fills in. */
export type VmDefinition = Omit<
  VmCreated['data'],
  'role' | 'origin' | 'provisioningTaskId' | 'poolId'
>;

/**
 * Who asks for an operation on a VM: a person (through the API; an admin may force power and
 * delete past a pool's protection of its desktops, the API lets no one else), or the pool that
 * owns the VM, doing its own work. Absent: a person, no force.
 */
export type Requester = { by: 'person'; force: boolean } | { by: 'pool'; poolId: string };
type Requested = { requester?: Requester };

export type CreateVm = Command<'CreateVm', VmDefinition & { provisioningTaskId: string | null }>;
/** The target side of a clone: the new VM, made in the inventory while its disks are copied. */
export type CreateClone = Command<
  'CreateClone',
  VmDefinition & {
    role: VmRole;
    provisioningTaskId: string;
    origin: Exclude<VmOrigin, { kind: 'new' }>;
    /** The pool making it (its chain, its machines), which alone changes it; null otherwise. */
    poolId: string | null;
  }
>;
export type RecordProvisioned = Command<'RecordProvisioned', TaskRef & { disks: DiskPlacement[] }>;
export type RecordCloned = Command<'RecordCloned', TaskRef & { disks: DiskPlacement[] }>;
export type RecordForked = Command<
  'RecordForked',
  TaskRef & {
    disks: DiskPlacement[];
    workerId: string;
    exports: LiveExport[];
    memoryImage: LiveExport;
  }
>;
export type RecordProvisioningFailed = Command<'RecordProvisioningFailed', Failure>;
export type StartClone = Command<
  'StartClone',
  TaskRef &
    Requested & {
      targetVmId: string;
      linked: boolean;
      snapshotId: string | null;
      format: CloneFormat;
    }
>;
export type FinishClone = Command<
  'FinishClone',
  TaskRef & { targetVmId: string; outcome: 'succeeded' | 'failed' | 'cancelled' }
>;
export type StartFork = Command<'StartFork', TaskRef & Requested & { targetVmId: string }>;
export type FinishFork = Command<
  'FinishFork',
  TaskRef & {
    targetVmId: string;
    outcome: 'succeeded' | 'failed' | 'cancelled';
    exports: LiveExport[] | null;
  }
>;
export type AttachLinkedClone = Command<'AttachLinkedClone', VmId & { dependantVmId: string }>;
export type RequestRefresh = Command<'RequestRefresh', TaskRef & Requested>;
export type RecordRefreshed = Command<
  'RecordRefreshed',
  TaskRef & { disks: DiskPlacement[]; exports: LiveExport[]; memoryImage: LiveExport }
>;
export type RequestPowerChange = Command<
  'RequestPowerChange',
  TaskRef & Requested & { to: PowerState }
>;
export type RecordPoweredOn = Command<
  'RecordPoweredOn',
  TaskRef & { workerId: string; exports: LiveExport[]; memoryImage: LiveExport }
>;
export type RecordPoweredOff = Command<'RecordPoweredOff', TaskRef>;
export type RecordHostLost = Command<'RecordHostLost', { vmId: string; workerId: string }>;
export type RecordSuspended = Command<'RecordSuspended', TaskRef>;
export type TakeSnapshot = Command<
  'TakeSnapshot',
  TaskRef & Requested & { snapshotId: string; name: string; description: string }
>;
export type RecordSnapshotTaken = Command<
  'RecordSnapshotTaken',
  TaskRef & { layers: { diskId: string; layerId: string }[]; disks: DiskPlacement[] }
>;
export type RevertToSnapshot = Command<
  'RevertToSnapshot',
  TaskRef & Requested & { snapshotId: string }
>;
export type RecordReverted = Command<'RecordReverted', TaskRef & { disks: DiskPlacement[] }>;
export type DeleteSnapshot = Command<
  'DeleteSnapshot',
  TaskRef & Requested & { snapshotId: string }
>;
export type RecordSnapshotDeleted = Command<'RecordSnapshotDeleted', TaskRef>;
export type DeleteVm = Command<'DeleteVm', TaskRef & Requested>;
export type RecordDeleted = Command<'RecordDeleted', TaskRef>;
export type RecordTaskFailed = Command<'RecordTaskFailed', Failure>;
export type ReleaseLinkedClone = Command<'ReleaseLinkedClone', VmId & { dependantVmId: string }>;
export type RenameVm = Command<'RenameVm', VmId & Requested & { name: string }>;
export type ConvertVmToTemplate = Command<'ConvertVmToTemplate', VmId & Requested>;
export type ConvertTemplateToVm = Command<'ConvertTemplateToVm', VmId & Requested>;

export type VmCommand =
  | CreateVm
  | CreateClone
  | RecordProvisioned
  | RecordCloned
  | RecordForked
  | RecordProvisioningFailed
  | StartClone
  | FinishClone
  | StartFork
  | FinishFork
  | AttachLinkedClone
  | RequestRefresh
  | RecordRefreshed
  | RequestPowerChange
  | RecordPoweredOn
  | RecordPoweredOff
  | RecordHostLost
  | RecordSuspended
  | TakeSnapshot
  | RecordSnapshotTaken
  | RevertToSnapshot
  | RecordReverted
  | DeleteSnapshot
  | RecordSnapshotDeleted
  | DeleteVm
  | RecordDeleted
  | RecordTaskFailed
  | ReleaseLinkedClone
  | RenameVm
  | ConvertVmToTemplate
  | ConvertTemplateToVm;

/** What deciding a VM command may need to know beyond the VM's own stream. */
export type VmContext = { host?: HostState; datastore?: DatastoreState };

const isTemplate = (vm: ExistingVm) => vm.role === 'template';

/** The memory image deleting a VM removes: its running one, or one its lost host left behind. */
export const memoryImageOf = (vm: ExistingVm): string | null =>
  vm.live?.memoryImage.imageId ?? vm.strandedMemoryImageId;

function existing(state: VmState, vmId: string): ExistingVm {
  if (state.status !== 'present')
    throw new NotFoundError('VM.NOT_FOUND', `VM ${vmId} does not exist`);
  return state;
}

/** Ready, and not in the middle of an operation that excludes others. */
function idle(state: VmState, vmId: string): ExistingVm {
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
function guarded(
  state: VmState,
  vmId: string,
  operation: VmOperation,
  requester: Requester | undefined,
): { vm: ExistingVm; forced: boolean } {
  const forced = guardPoolVm(existing(state, vmId), operation, requester);
  return { vm: idle(state, vmId), forced };
}

/** The worker reports the outcome of the operation the VM is busy with, and no other. */
function busyWith(
  state: VmState,
  vmId: string,
  taskId: string,
  operation: ExclusiveOperation,
): ExistingVm {
  const vm = existing(state, vmId);
  if (!vm.busy || vm.busy.taskId !== taskId || vm.busy.operation !== operation) {
    throw new IllegalStateError(
      'VM.NOT_BUSY_WITH_TASK',
      `${vm.name} is not running ${operation} task ${taskId}`,
    );
  }
  return vm;
}

function provisioningBy(state: VmState, vmId: string, taskId: string): ExistingVm {
  const vm = existing(state, vmId);
  if (vm.lifecycle !== 'provisioning' || vm.provisioningTaskId !== taskId) {
    throw new IllegalStateError(
      'VM.NOT_PROVISIONING',
      `VM ${vmId} is not being made by task ${taskId}`,
    );
  }
  return vm;
}

function snapshotOf(vm: ExistingVm, snapshotId: string): Snapshot {
  const snapshot = vm.snapshots.find((s) => s.snapshotId === snapshotId);
  if (!snapshot)
    throw new NotFoundError('SNAPSHOT.NOT_FOUND', `${vm.name} has no snapshot ${snapshotId}`);
  return snapshot;
}

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

function createVm(command: CreateVm, state: VmState, context: VmContext): VmEvent[] {
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

function createClone(command: CreateClone, state: VmState, context: VmContext): VmEvent[] {
  if (state.status !== 'absent')
    throw new IllegalStateError('VM.ALREADY_EXISTS', `VM ${command.data.vmId} already exists`);
  newVm(command.data, context);
  return [{ type: 'VmCreated', data: command.data }];
}

function startClone(command: StartClone, state: VmState): VmEvent[] {
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

function finishClone(command: FinishClone, state: VmState): VmEvent[] {
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
function startFork(command: StartFork, state: VmState): VmEvent[] {
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

function finishFork(command: FinishFork, state: VmState): VmEvent[] {
  const vm = existing(state, command.data.vmId);
  if (!vm.forks.some((f) => f.taskId === command.data.taskId))
    throw new IllegalStateError(
      'VM.NOT_BEING_FORKED',
      `${vm.name} has no fork under task ${command.data.taskId}`,
    );
  return [{ type: 'VmForkFinished', data: command.data }];
}

const POWER_TRANSITIONS: Record<PowerState, PowerState[]> = {
  poweredOff: ['poweredOn'],
  poweredOn: ['poweredOff', 'suspended'],
  suspended: ['poweredOn', 'poweredOff'],
};

function requestPowerChange(command: RequestPowerChange, state: VmState): VmEvent[] {
  const { requester, ...data } = command.data;
  const { to } = data;
  const { vm, forced } = guarded(state, data.vmId, 'power', requester);
  if (to === 'poweredOn' && isTemplate(vm)) {
    throw new IllegalStateError(
      'VM.IS_TEMPLATE',
      `${vm.name} is a template: templates cannot be powered on`,
    );
  }
  if (to !== 'poweredOn' && vm.forks.length > 0) {
    throw new IllegalStateError(
      'VM.BEING_FORKED',
      `${vm.name} is being forked (task ${vm.forks.map((f) => f.taskId).join(', ')}): it keeps running until the forks end`,
    );
  }
  if (!POWER_TRANSITIONS[vm.powerState].includes(to)) {
    const code = {
      poweredOn: 'VM.ALREADY_POWERED_ON',
      poweredOff: 'VM.ALREADY_POWERED_OFF',
      suspended: 'VM.NOT_POWERED_ON',
    }[to];
    throw new IllegalStateError(code, `${vm.name} is ${vm.powerState}: it cannot go ${to}`);
  }
  return [{ type: 'VmPowerChangeRequested', data: { ...data, forced } }];
}

function takeSnapshot(command: TakeSnapshot, state: VmState): VmEvent[] {
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

function revertToSnapshot(command: RevertToSnapshot, state: VmState): VmEvent[] {
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

function deleteSnapshot(command: DeleteSnapshot, state: VmState): VmEvent[] {
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

const PERSON: Requester = { by: 'person', force: false };

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

function deleteVm(command: DeleteVm, state: VmState): VmEvent[] {
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

function convertToTemplate(command: ConvertVmToTemplate, state: VmState): VmEvent[] {
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

function convertToVm(command: ConvertTemplateToVm, state: VmState): VmEvent[] {
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

function decide(command: VmCommand, state: VmState, context: VmContext): VmEvent[] {
  const { vmId } = command.data;
  switch (command.type) {
    case 'CreateVm':
      return createVm(command, state, context);
    case 'CreateClone':
      return createClone(command, state, context);
    case 'RecordProvisioned':
      provisioningBy(state, vmId, command.data.taskId);
      return [{ type: 'VmProvisioned', data: command.data }];
    case 'RecordCloned': {
      const vm = provisioningBy(state, vmId, command.data.taskId);
      if (vm.origin.kind !== 'clone')
        throw new IllegalStateError('VM.NOT_A_CLONE', `${vm.name} is not a clone`);
      return [
        {
          type: 'VmCloned',
          data: { ...command.data, sourceVmId: vm.origin.sourceVmId, linked: vm.origin.linked },
        },
      ];
    }
    case 'RecordForked': {
      const vm = provisioningBy(state, vmId, command.data.taskId);
      if (vm.origin.kind !== 'fork')
        throw new IllegalStateError('VM.NOT_A_FORK', `${vm.name} is not an instant clone`);
      return [{ type: 'VmForked', data: command.data }];
    }
    case 'RecordProvisioningFailed':
      provisioningBy(state, vmId, command.data.taskId);
      return [{ type: 'VmProvisioningFailed', data: command.data }];
    case 'StartClone':
      return startClone(command, state);
    case 'FinishClone':
      return finishClone(command, state);
    case 'StartFork':
      return startFork(command, state);
    case 'FinishFork':
      return finishFork(command, state);
    case 'AttachLinkedClone': {
      const vm = existing(state, vmId);
      if (vm.linkedClones.includes(command.data.dependantVmId)) return [];
      return [{ type: 'VmLinkedCloneAttached', data: command.data }];
    }
    case 'RequestRefresh': {
      const { requester, ...data } = command.data;
      const { vm } = guarded(state, vmId, 'refresh', requester);
      if (vm.origin.kind !== 'fork' || vm.powerState !== 'poweredOn')
        throw new IllegalStateError(
          'VM.NOT_REFRESHABLE',
          `${vm.name} is not a running instant clone: only those go back to their fork state`,
        );
      return [{ type: 'VmRefreshRequested', data }];
    }
    case 'RecordRefreshed':
      busyWith(state, vmId, command.data.taskId, 'refresh');
      return [{ type: 'VmRefreshed', data: command.data }];
    case 'RequestPowerChange':
      return requestPowerChange(command, state);
    case 'RecordPoweredOn': {
      const vm = busyWith(state, vmId, command.data.taskId, 'power');
      return [
        {
          type: 'VmPoweredOn',
          data: { ...command.data, resumedFromSuspend: vm.powerState === 'suspended' },
        },
      ];
    }
    case 'RecordHostLost': {
      const vm = existing(state, vmId);
      // Only the worker that holds it now: a VM since opened elsewhere lost nothing.
      return vm.live?.workerId === command.data.workerId
        ? [
            {
              type: 'VmHostLost',
              data: { ...command.data, memoryImageId: vm.live.memoryImage.imageId },
            },
          ]
        : [];
    }
    case 'RecordPoweredOff':
      busyWith(state, vmId, command.data.taskId, 'power');
      return [{ type: 'VmPoweredOff', data: command.data }];
    case 'RecordSuspended':
      busyWith(state, vmId, command.data.taskId, 'power');
      return [{ type: 'VmSuspended', data: command.data }];
    case 'TakeSnapshot':
      return takeSnapshot(command, state);
    case 'RecordSnapshotTaken': {
      const vm = busyWith(state, vmId, command.data.taskId, 'snapshot');
      const { snapshotId, name, description } = vm.busy!.snapshot!;
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
    case 'RevertToSnapshot':
      return revertToSnapshot(command, state);
    case 'RecordReverted': {
      const vm = busyWith(state, vmId, command.data.taskId, 'revert');
      return [
        {
          type: 'VmRevertedToSnapshot',
          data: { ...command.data, snapshotId: vm.busy!.snapshot!.snapshotId },
        },
      ];
    }
    case 'DeleteSnapshot':
      return deleteSnapshot(command, state);
    case 'RecordSnapshotDeleted': {
      const vm = busyWith(state, vmId, command.data.taskId, 'delete-snapshot');
      return [
        {
          type: 'VmSnapshotDeleted',
          data: { ...command.data, snapshotId: vm.busy!.snapshot!.snapshotId },
        },
      ];
    }
    case 'DeleteVm':
      return deleteVm(command, state);
    case 'RecordDeleted':
      busyWith(state, vmId, command.data.taskId, 'delete');
      return [{ type: 'VmDeleted', data: command.data }];
    case 'RecordTaskFailed': {
      const vm = existing(state, vmId);
      if (vm.busy?.taskId !== command.data.taskId) {
        throw new IllegalStateError(
          'VM.NOT_BUSY_WITH_TASK',
          `${vm.name} is not running task ${command.data.taskId}`,
        );
      }
      return [{ type: 'VmTaskFailed', data: { ...command.data, operation: vm.busy.operation } }];
    }
    case 'ReleaseLinkedClone': {
      const vm = existing(state, vmId);
      if (!vm.linkedClones.includes(command.data.dependantVmId)) return [];
      return [{ type: 'VmLinkedCloneReleased', data: command.data }];
    }
    case 'RenameVm': {
      const vm = existing(state, vmId);
      guardPoolVm(vm, 'rename', command.data.requester);
      if (vm.name === command.data.name) return [];
      return [
        { type: 'VmRenamed', data: { vmId, name: command.data.name, previousName: vm.name } },
      ];
    }
    case 'ConvertVmToTemplate':
      return convertToTemplate(command, state);
    case 'ConvertTemplateToVm':
      return convertToVm(command, state);
    default:
      return assertNever(command);
  }
}

function evolvePresent(vm: ExistingVm, event: Exclude<VmEvent, VmCreated>): VmState {
  const present = (changes: Partial<ExistingVm>): VmState => ({
    status: 'present',
    ...vm,
    ...changes,
  });
  const snapshotOnly = (snapshotId: string) => ({ snapshotId, name: '', description: '' });
  switch (event.type) {
    case 'VmProvisioned':
    case 'VmCloned':
      return present({ lifecycle: 'ready', placements: event.data.disks });
    case 'VmForked': {
      const { disks, workerId, exports, memoryImage } = event.data;
      return present({
        lifecycle: 'ready',
        placements: disks,
        powerState: 'poweredOn',
        live: { workerId, exports, memoryImage },
      });
    }
    case 'VmProvisioningFailed':
      return { status: 'failed', vmId: vm.vmId };
    case 'VmBeingCloned': {
      const { taskId, targetVmId, linked } = event.data;
      return present({ clones: [...vm.clones, { taskId, targetVmId, linked }] });
    }
    case 'VmCloneFinished':
      return present({
        clones: vm.clones.filter((c) => c.taskId !== event.data.taskId),
        linkedClones:
          event.data.linked && event.data.outcome === 'succeeded'
            ? [...vm.linkedClones, event.data.targetVmId]
            : vm.linkedClones,
      });
    case 'VmForkStarted': {
      const { taskId, targetVmId } = event.data;
      return present({ forks: [...vm.forks, { taskId, targetVmId }] });
    }
    case 'VmForkFinished':
      return present({
        forks: vm.forks.filter((f) => f.taskId !== event.data.taskId),
        live: vm.live && event.data.exports ? { ...vm.live, exports: event.data.exports } : vm.live,
      });
    case 'VmLinkedCloneAttached':
      return present({ linkedClones: [...vm.linkedClones, event.data.dependantVmId] });
    case 'VmRefreshRequested':
      return present({ busy: { taskId: event.data.taskId, operation: 'refresh' } });
    case 'VmRefreshed': {
      const { disks, exports, memoryImage } = event.data;
      return present({
        busy: null,
        placements: disks,
        live: vm.live && { ...vm.live, exports, memoryImage },
      });
    }
    case 'VmPowerChangeRequested':
      return present({
        busy: { taskId: event.data.taskId, operation: 'power', powerTo: event.data.to },
      });
    case 'VmPoweredOn':
      return present({
        busy: null,
        powerState: 'poweredOn',
        live: {
          workerId: event.data.workerId,
          exports: event.data.exports,
          memoryImage: event.data.memoryImage,
        },
      });
    case 'VmPoweredOff':
      return present({ busy: null, powerState: 'poweredOff', live: null });
    case 'VmHostLost':
      // Forks under way went with the host: their tasks fail on their own.
      return present({
        powerState: 'poweredOff',
        live: null,
        forks: [],
        strandedMemoryImageId: event.data.memoryImageId,
      });
    case 'VmSuspended':
      // The disks close; the memory image stays with the worker that holds it.
      return present({
        busy: null,
        powerState: 'suspended',
        live: vm.live && { ...vm.live, exports: [] },
      });
    case 'VmSnapshotRequested': {
      const { taskId, snapshotId, name, description } = event.data;
      return present({
        busy: { taskId, operation: 'snapshot', snapshot: { snapshotId, name, description } },
      });
    }
    case 'VmSnapshotTaken': {
      const { snapshotId, name, description, parentSnapshotId, layers } = event.data;
      return present({
        busy: null,
        snapshots: [...vm.snapshots, { snapshotId, name, description, parentSnapshotId, layers }],
        currentSnapshotId: snapshotId,
        placements: event.data.disks,
      });
    }
    case 'VmRevertRequested':
      return present({
        busy: {
          taskId: event.data.taskId,
          operation: 'revert',
          snapshot: snapshotOnly(event.data.snapshotId),
        },
      });
    case 'VmRevertedToSnapshot':
      return present({
        busy: null,
        currentSnapshotId: event.data.snapshotId,
        placements: event.data.disks,
      });
    case 'VmSnapshotDeletionRequested':
      return present({
        busy: {
          taskId: event.data.taskId,
          operation: 'delete-snapshot',
          snapshot: snapshotOnly(event.data.snapshotId),
        },
      });
    case 'VmSnapshotDeleted': {
      const deleted = vm.snapshots.find((s) => s.snapshotId === event.data.snapshotId);
      const parent = deleted?.parentSnapshotId ?? null;
      return present({
        busy: null,
        snapshots: vm.snapshots
          .filter((s) => s.snapshotId !== event.data.snapshotId)
          .map((s) =>
            s.parentSnapshotId === event.data.snapshotId ? { ...s, parentSnapshotId: parent } : s,
          ),
        currentSnapshotId:
          vm.currentSnapshotId === event.data.snapshotId ? parent : vm.currentSnapshotId,
      });
    }
    case 'VmDeletionRequested':
      return present({
        busy: { taskId: event.data.taskId, operation: 'delete' },
        lifecycle: 'deleting',
      });
    case 'VmDeleted':
      return { status: 'deleted', vmId: vm.vmId };
    case 'VmTaskFailed':
      return present({
        busy: null,
        lifecycle: vm.lifecycle === 'deleting' ? 'ready' : vm.lifecycle,
      });
    case 'VmBlockMapsMeasured':
      // What its disks take now: each disk's own layer, and its whole chain, as measured.
      return present({
        measuredBytes: {
          ...vm.measuredBytes,
          ...Object.fromEntries(event.data.disks.map((d) => [d.diskId, d.allocatedBytes])),
        },
        placements: vm.placements.map((placement) => {
          const measured = event.data.disks.find((d) => d.diskId === placement.diskId);
          const own = measured?.bytesPerLayer.find((layer) => layer.layerId === placement.layerId);
          return own ? { ...placement, allocatedBytes: own.mappedBytes } : placement;
        }),
      });
    case 'VmLinkedCloneReleased':
      return present({
        linkedClones: vm.linkedClones.filter((id) => id !== event.data.dependantVmId),
      });
    case 'VmRenamed':
      return present({ name: event.data.name });
    case 'VmConvertedToTemplate':
      return present({ role: 'template' });
    case 'TemplateConvertedToVm':
      return present({ role: 'vm' });
    default:
      return assertNever(event);
  }
}

export const vmDecider: Decider<VmState, VmCommand, VmEvent, VmContext> = {
  initialState: () => ({ status: 'absent' }),
  decide: (command, state, context) => decide(command, state, context ?? {}),
  evolve(state, event) {
    if (event.type === 'VmCreated') {
      const { role: _role, provisioningTaskId, ...rest } = event.data;
      return {
        status: 'present',
        ...rest,
        role: event.data.role,
        provisioningTaskId,
        lifecycle: provisioningTaskId === null ? 'ready' : 'provisioning',
        powerState: 'poweredOff',
        placements: [],
        measuredBytes: {},
        strandedMemoryImageId: null,
        busy: null,
        clones: [],
        forks: [],
        linkedClones: [],
        snapshots: [],
        currentSnapshotId: null,
        live: null,
      };
    }
    // Events arrive only for the stream's own VM, so a non-present state here means a corrupt stream.
    if (state.status !== 'present')
      throw new Error(`${event.type} applied to a VM that is ${state.status}`);
    return evolvePresent(state, event);
  },
};
