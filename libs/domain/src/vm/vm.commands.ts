import type { DatastoreState } from '../datastore/datastore';
import type { HostState } from '../host/host';
import type { Command } from '../shared/decider';
import type {
  CloneFormat,
  DiskPlacement,
  LiveExport,
  PowerState,
  VmCreated,
  VmImported,
  VmOrigin,
  VmRole,
} from './vm.events';

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
export type StartExport = Command<'StartExport', TaskRef & { snapshotId: string | null }>;
export type FinishExport = Command<
  'FinishExport',
  TaskRef & { outcome: 'succeeded' | 'failed' | 'cancelled' }
>;
export type RecordImported = Command<'RecordImported', VmImported['data']>;

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
  | ConvertTemplateToVm
  | StartExport
  | FinishExport
  | RecordImported;

/** What deciding a VM command may need to know beyond the VM's own stream. */
export type VmContext = { host?: HostState; datastore?: DatastoreState };
