/**
 * The shapes of Dolly's HTTP API that the CLI reads, as the client sees them. The CLI is a
 * client over HTTP: it keeps its own copy of these types rather than importing the API's code, so
 * it builds and runs without NestJS and the read models. api-contract.spec.ts ties the copy to the
 * API's representations: a drift fails the typecheck.
 */

export const TASK_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** A task as `GET /tasks/{taskId}` and its event stream show it. */
export interface TaskView {
  taskId: string;
  /** The command (CloneVm, PowerOnVm...). */
  operation: string;
  target: { type: string; id: string };
  status: TaskStatus;
  attempt: number;
  workerId: string | null;
  cancelRequested: boolean;
  progress: {
    percent: number;
    doneBytes: number;
    totalBytes: number;
    /** What done and total count: bytes (a worker's job), events (a rebuild). */
    unit: 'bytes' | 'events';
    done: number;
    total: number;
    /** The rate at the last report, in the unit per second. */
    perSecond: number | null;
    /** What the worker is doing (copy, merge...); null before it starts. */
    phase: string | null;
  };
  error: {
    code: string;
    message: string;
    reasons: { code: string; detail: string; at?: string }[];
  } | null;
  actor: { id: string; role: string };
  correlationId: string;
  projected: boolean;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

export function hasEnded(task: Pick<TaskView, 'status'>): boolean {
  return task.status === 'succeeded' || task.status === 'failed' || task.status === 'cancelled';
}

/** The answer to a command (202, or 200 when it changed nothing). */
export interface CommandAccepted {
  /** Null when nothing changed. */
  taskId: string | null;
  status: 'queued' | 'succeeded';
  changed: boolean;
  projected: boolean;
  target: { type: string; id: string; version: number };
  links: { task: string | null; target: string };
  /** Only when the API was asked to wait (the CLI follows the task's stream instead). */
  task?: TaskView;
  resource?: unknown;
}

/** An application/problem+json body. */
export interface Problem {
  status?: number;
  code?: string;
  detail?: string;
  errors?: { code: string; detail: string; pointer?: string }[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export type CloneFormat = 'same' | 'thin' | 'thick-lazy-zeroed' | 'thick-eager-zeroed';
export const CLONE_FORMATS: CloneFormat[] = [
  'same',
  'thin',
  'thick-lazy-zeroed',
  'thick-eager-zeroed',
];

export interface LiveExport {
  imageId: string;
  /** Only for roles that may attach disks (admin, operator). */
  uri?: string;
  writable: boolean;
}

export interface SnapshotView {
  snapshotId: string;
  name: string;
  description: string;
  parentSnapshotId: string | null;
}

export interface VmView {
  vmId: string;
  name: string;
  folder: string;
  role: string;
  powerState: string;
  /** provisioning (disks being made), ready, deleting. */
  lifecycle: string;
  hostId: string;
  datastoreId: string;
  hardware: { vcpus: number; memoryBytes: number; hardwareVersion: string; guestOs: string };
  disks: {
    diskId: string;
    capacityBytes: number;
    format: string;
    layerId: string | null;
    allocatedBytes: number | null;
  }[];
  nics: { network: string; macAddress?: string }[];
  origin:
    | { kind: 'new' }
    | {
        kind: 'clone';
        sourceVmId: string;
        snapshotId: string | null;
        linked: boolean;
        format: string;
      }
    | {
        /** An instant clone, forked from a running parent. */
        kind: 'fork';
        parentVmId: string;
        replicaVmId: string | null;
        poolId: string | null;
      }
    | {
        /** Imported from an OVF package (OVA, or OVF and its files). */
        kind: 'import';
        packageName: string;
        descriptorSha256: string;
      };
  busyWith: { taskId: string; operation: string } | null;
  clonesInProgress: { taskId: string; targetVmId: string; linked: boolean }[];
  linkedClones: string[];
  snapshots: SnapshotView[];
  currentSnapshotId: string | null;
  live: { workerId: string; exports: LiveExport[]; memoryImage: LiveExport } | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

/** What check moved aside on a datastore, as `GET /datastores/{id}/quarantine` shows it (admins). */
export interface QuarantineView {
  datastoreId: string;
  /** false: no worker has reported on it yet. */
  observed: boolean;
  entries: {
    /** layer: a quarantined layer (restorable once sound); file: an image no layer named. */
    kind: 'layer' | 'file';
    entry: string;
    fileName: string;
    sizeBytes: number;
    diskIds: string[];
    restorable: boolean;
  }[];
}

export interface DatastoreView {
  datastoreId: string;
  name: string;
  capacityBytes: number;
  folder: string;
  overcommitRatio: number;
  /** Absent from servers before accessibility was recorded. */
  accessibility?: 'accessible' | 'inaccessible';
  accessibilityReason?: string | null;
  space?: {
    claimedPhysicalBytes: number;
    claimedProvisionedBytes: number;
    freeBytes: number;
    provisionableBytes: number;
  };
  registeredAt: string;
}

export interface BlockMap {
  diskId: string;
  /** The disk's own layer (its writes go there); the others it inherits. */
  topLayerId: string;
  extents: {
    offsetBytes: number;
    lengthBytes: number;
    layerId: string;
    /** Held, but reads as zeros. */
    zero: boolean;
    shared: boolean;
  }[];
  bytesPerLayer: { layerId: string; mappedBytes: number; shared: boolean }[];
}

/** Where the API serves each kind of object (the API's links use the same paths). */
const COLLECTIONS: Record<string, string> = {
  vm: 'vms',
  host: 'hosts',
  datastore: 'datastores',
  task: 'tasks',
};

export function resourcePath(target: { type: string; id: string }): string | undefined {
  const collection = COLLECTIONS[target.type];
  return collection && `/${collection}/${encodeURIComponent(target.id)}`;
}

/** `GET /audit/chain`: the history checked against its hash chains and signed checkpoints. */
export interface ChainVerificationView {
  intact: boolean;
  firstBreak: {
    code: string;
    detail: string;
    chainSeq: string | null;
    globalPosition: string | null;
    streamId: string | null;
    streamVersion: number | null;
  } | null;
  linksVerified: number;
  head: { chainSeq: string; chainHash: string };
  checkpoints: {
    verified: number;
    unknownKey: number;
    latest: { chainSeq: string; signedAt: string; keyId: string } | null;
  };
}

/** A line of `GET /audit/chain` streamed as JSON lines: progress, then the result or an error. */
export type ChainVerificationLine =
  | { linksVerified: number; linksTotal: number }
  | { result: ChainVerificationView }
  | { error: { detail: string } };

/** A VM or template in a lineage (`GET /vms/{id}/lineage`), as it was at the instant asked. */
export interface LineageNode {
  vmId: string;
  derivesFrom: string | null;
  depth: number;
  name: string;
  role: string;
  state: 'present' | 'deleted' | 'failed';
  createdAt: string;
  poolId: string | null;
  origin: VmView['origin'];
  snapshotName: string | null;
  package: unknown;
}

export interface LineageView {
  /** What the lineage was asked of. */
  subject: { type: 'vm' | 'disk' | 'layer' | 'package'; id: string };
  vmId: string;
  direction: 'ancestors' | 'descendants';
  asOf: string | null;
  nodes: LineageNode[];
  truncated: boolean;
}

/** `GET /inventory/diff`: what was created, deleted and changed between two instants. */
export interface InventoryDiffView {
  from: string;
  to: string | null;
  created: { type: string; id: string; name: string; object: unknown }[];
  deleted: { type: string; id: string; name: string; object: unknown }[];
  changed: {
    type: string;
    id: string;
    name: string;
    changes: { field: string; from: unknown; to: unknown }[];
  }[];
  truncated: boolean;
}
