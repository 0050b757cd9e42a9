import { streamIdOf } from '../shared/streams';
import { assertNever } from '../shared/decider';
import type {
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
  'power' | 'snapshot' | 'revert' | 'delete-snapshot' | 'delete' | 'refresh' | 'export';

/**
 * The operation a VM is busy with, and what its outcome needs to know: the power state asked
 * for, the snapshot being taken (named before it exists), or the snapshot reverted to or deleted.
 */
export type VmBusy = { taskId: string } & (
  | { operation: 'power'; powerTo: PowerState }
  | { operation: 'snapshot'; snapshot: { snapshotId: string; name: string; description: string } }
  | { operation: 'revert'; snapshot: { snapshotId: string } }
  | { operation: 'delete-snapshot'; snapshot: { snapshotId: string } }
  | { operation: 'delete' }
  | { operation: 'refresh' }
  | { operation: 'export'; snapshotId: string | null }
);

/** The busy record of one operation. */
export type BusyWith<Operation extends ExclusiveOperation> = Extract<
  VmBusy,
  { operation: Operation }
>;

export interface Snapshot {
  snapshotId: string;
  name: string;
  description: string;
  parentSnapshotId: string | null;
  layers: { diskId: string; layerId: string }[];
}

/** Where a VM runs while powered on or suspended: the worker that holds it, and its exports. */
export interface VmLive {
  workerId: string;
  exports: LiveExport[];
  memoryImage: LiveExport;
}

/**
 * Its power state, and where it runs: powered off, no worker holds it; powered on, one worker
 * does; suspended (disks closed, memory image kept), the worker that holds its memory image, or
 * none when its host was lost while it was being suspended.
 */
export type VmPower =
  | { powerState: 'poweredOff'; live: null }
  | { powerState: 'poweredOn'; live: VmLive }
  | { powerState: 'suspended'; live: VmLive | null };

const POWERED_OFF: VmPower = { powerState: 'poweredOff', live: null };

/** What a VM is, whatever its power state. */
export interface VmRecord {
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
  /** Where each disk's writes go now. */
  placements: DiskPlacement[];
  /** Bytes each disk's whole chain holds, as last measured (what a flattened copy needs). */
  measuredBytes: Record<string, number>;
  /** A memory image its lost host left on the datastore: deleted with the VM. */
  strandedMemoryImageId: string | null;
  busy: VmBusy | null;
  /** Clones of this VM under way. */
  clones: { taskId: string; targetVmId: string; linked: boolean }[];
  /** Instant clones being forked from this running VM. */
  forks: { taskId: string; targetVmId: string }[];
  /** Linked clones standing on this VM's frozen layers. */
  linkedClones: string[];
  snapshots: Snapshot[];
  currentSnapshotId: string | null;
}

export type ExistingVm = VmRecord & VmPower;

export type VmState =
  | { status: 'absent' }
  | ({ status: 'present' } & ExistingVm)
  | { status: 'deleted'; vmId: string }
  | { status: 'failed'; vmId: string };

export const vmStreamId = (vmId: string) => streamIdOf({ kind: 'vm', id: vmId });

export const isTemplate = (vm: ExistingVm) => vm.role === 'template';

/** The memory image deleting a VM removes: its running one, or one its lost host left behind. */
export const memoryImageOf = (vm: ExistingVm): string | null =>
  vm.live?.memoryImage.imageId ?? vm.strandedMemoryImageId;

function created(event: VmCreated): VmState {
  const { role: _role, provisioningTaskId, ...rest } = event.data;
  return {
    status: 'present',
    ...rest,
    role: event.data.role,
    provisioningTaskId,
    lifecycle: provisioningTaskId === null ? 'ready' : 'provisioning',
    placements: [],
    measuredBytes: {},
    strandedMemoryImageId: null,
    busy: null,
    clones: [],
    forks: [],
    linkedClones: [],
    snapshots: [],
    currentSnapshotId: null,
    ...POWERED_OFF,
  };
}

function evolvePresent(vm: ExistingVm, event: Exclude<VmEvent, VmCreated>): VmState {
  const present = (changes: Partial<VmRecord>): VmState => ({
    status: 'present',
    ...vm,
    ...changes,
  });
  const powered = (power: VmPower, changes: Partial<VmRecord> = {}): VmState => ({
    status: 'present',
    ...vm,
    ...changes,
    ...power,
  });
  /** Still held by its worker, with what changed of its exports. */
  const held = (live: Partial<VmLive>, changes: Partial<VmRecord> = {}): VmState =>
    vm.live
      ? powered({ powerState: vm.powerState, live: { ...vm.live, ...live } }, changes)
      : present(changes);
  switch (event.type) {
    case 'VmProvisioned':
    case 'VmCloned':
      return present({ lifecycle: 'ready', placements: event.data.disks });
    case 'VmForked': {
      const { disks, workerId, exports, memoryImage } = event.data;
      return powered(
        { powerState: 'poweredOn', live: { workerId, exports, memoryImage } },
        { lifecycle: 'ready', placements: disks },
      );
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
    case 'VmForkFinished': {
      const forks = vm.forks.filter((f) => f.taskId !== event.data.taskId);
      return event.data.exports
        ? held({ exports: event.data.exports }, { forks })
        : present({ forks });
    }
    case 'VmLinkedCloneAttached':
      return present({ linkedClones: [...vm.linkedClones, event.data.dependantVmId] });
    case 'VmRefreshRequested':
      return present({ busy: { taskId: event.data.taskId, operation: 'refresh' } });
    case 'VmRefreshed': {
      const { disks, exports, memoryImage } = event.data;
      return held({ exports, memoryImage }, { busy: null, placements: disks });
    }
    case 'VmPowerChangeRequested':
      return present({
        busy: { taskId: event.data.taskId, operation: 'power', powerTo: event.data.to },
      });
    case 'VmPoweredOn': {
      const { workerId, exports, memoryImage } = event.data;
      return powered(
        { powerState: 'poweredOn', live: { workerId, exports, memoryImage } },
        { busy: null },
      );
    }
    case 'VmPoweredOff':
      return powered(POWERED_OFF, { busy: null });
    case 'VmHostLost':
      // Forks under way went with the host: their tasks fail on their own.
      return powered(POWERED_OFF, {
        forks: [],
        strandedMemoryImageId: event.data.memoryImageId,
      });
    case 'VmSuspended':
      // The disks close; the memory image stays with the worker that holds it.
      return powered(
        { powerState: 'suspended', live: vm.live && { ...vm.live, exports: [] } },
        { busy: null },
      );
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
          snapshot: { snapshotId: event.data.snapshotId },
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
          snapshot: { snapshotId: event.data.snapshotId },
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
    case 'VmExportStarted':
      return present({
        busy: { taskId: event.data.taskId, operation: 'export', snapshotId: event.data.snapshotId },
      });
    case 'VmExportFinished':
      return present({ busy: null });
    case 'VmImported':
      // Its package's provenance is recorded; the VM is ready once its disks are (VmProvisioned).
      return present({});
    default:
      return assertNever(event);
  }
}

export function evolveVm(state: VmState, event: VmEvent): VmState {
  if (event.type === 'VmCreated') return created(event);
  // Events arrive only for the stream's own VM, so a non-present state here means a corrupt stream.
  if (state.status !== 'present')
    throw new Error(`${event.type} applied to a VM that is ${state.status}`);
  return evolvePresent(state, event);
}
