/**
 * The disk engine port: what the rest of Dolly (clone workers) asks of disks. Everything that
 * crosses it is plain JSON (ids as strings, sizes in bytes named `...Bytes`, instants as ISO
 * strings), so results travel in messages unchanged. Every operation carries an
 * `operationId`: the same id with the same command returns the recorded outcome instead of
 * acting twice, also across worker restarts. Failures are thrown as DiskEngineError with a
 * stable `code` (see errors.ts).
 */
import type { DiskSink } from '@dolly/ovf';
import { type DatastoreSpace } from './model/space';
import { type BlockMap } from './model/block-map';
import { type LayerRef } from './model/decide';
import { type DiskEngineEvent } from './model/events';
import {
  type Disk,
  type ImageKind,
  type Layer,
  type ProvisioningFormat,
} from './model/layer-graph';
import { type LiveExport } from './daemon/live-graph';
import { type CheckReport } from './engine/check';

export type {
  BlockMap,
  CheckReport,
  DatastoreSpace,
  Disk,
  DiskEngineEvent,
  ImageKind,
  Layer,
  LayerRef,
  LiveExport,
  ProvisioningFormat,
};

export interface OperationProgress {
  operationId: string;
  /** What is being done: 'create', 'copy', 'merge', 'stream', 'export'... */
  phase: string;
  doneBytes: number;
  totalBytes: number;
}

export interface OperationOptions {
  onProgress?: (progress: OperationProgress) => void;
  /** Aborting cancels the work; nothing of it is left behind, and it fails with DISK.CANCELLED. */
  signal?: AbortSignal;
}

interface Command {
  operationId: string;
}

export interface CreateDisk extends Command {
  datastoreId: string;
  diskId: string;
  /** 'memory' for a running VM's memory image; default 'disk'. */
  kind?: ImageKind;
  format: ProvisioningFormat;
  capacityBytes: number;
  /** Default 65536. */
  clusterSizeBytes?: number;
}

export interface SnapshotDisk extends Command {
  diskId: string;
}

export interface FreezeDisk extends Command {
  diskId: string;
}

export interface LinkedClone extends Command {
  /** A frozen layer, or a disk whose top is frozen (a template). */
  source: LayerRef;
  diskId: string;
  /** Must be the source's datastore when given. */
  datastoreId?: string;
}

export interface FullClone extends Command {
  source: LayerRef;
  diskId: string;
  datastoreId: string;
  format: ProvisioningFormat | 'same';
}

export interface Consolidate extends Command {
  /** The layer (or disk top) into whose place the layer below is merged. */
  target: LayerRef;
}

export interface Materialise extends Command {
  target: LayerRef;
  /** The layer to stop reading from; null flattens the target completely. */
  releaseLayerId: string | null;
}

export interface RevertDisk extends Command {
  diskId: string;
  /** A frozen layer of the disk's own chain (a snapshot's). */
  layerId: string;
}

export interface DeleteDisk extends Command {
  diskId: string;
}

export interface ImportImage extends Command {
  datastoreId: string;
  diskId: string;
  /** Absolute path of the file to import; it is read, never changed. */
  sourcePath: string;
  /** What the caller says the file is; checked against its content and its extension. */
  sourceFormat: 'raw' | 'qcow2' | 'vmdk';
  format: ProvisioningFormat;
  kind?: ImageKind;
}

/**
 * A new disk whose content the caller streams in (an OVF/OVA disk as its package is read): like
 * ImportImage, without a file to read from.
 */
export interface ImportDiskStream extends Command {
  datastoreId: string;
  diskId: string;
  capacityBytes: number;
  format: ProvisioningFormat;
  /**
   * Thin only: the bytes of guest data the caller expects to write (an OVF disk's
   * populatedSize, or its file's size). Reserved up front with the image's metadata, capped at
   * the fully allocated size; absent, a thin import reserves the fully allocated size as the thick
   * formats do, since nothing says how much of the disk the package fills.
   */
  expectedDataBytes?: number;
}

/**
 * A disk being imported: `write` and `spool` (DiskSink) put its content into a temporary image
 * on the datastore; `commit` publishes it as importImage would, `abort` leaves nothing behind.
 * A session takes either writes or one spool, not both.
 */
export interface DiskImportSession extends DiskSink {
  readonly operationId: string;
  readonly capacityBytes: number;
  /** Flushes, closes the image and publishes the disk; the same result as importImage's. */
  commit(): Promise<DiskResult>;
  /** Removes everything the session wrote; the graph is as before. Resolves once it is gone. */
  abort(): Promise<void>;
}

export interface StageExport extends Command {
  datastoreId: string;
  /** Each disk's top (layerId null) or one frozen layer of its chain (a snapshot's). */
  disks: { diskId: string; layerId: string | null }[];
  /**
   * Also digest each consecutive range of this many bytes of every staged file (the last range
   * may be shorter), in the same read as the whole file's digest: for a writer that must name the
   * digest of each piece it splits a file into before it streams any of them.
   */
  digestRangeBytes?: number;
  /**
   * With digestRangeBytes: only a file larger than this many bytes gets range digests (a writer
   * splits only files over its limit); one no larger is read for its whole digest alone. 0 when
   * absent: every file.
   */
  digestRangesOverBytes?: number;
}

export interface StagedFile {
  diskId: string;
  /** Absolute path of the streamOptimized VMDK, in the export's private folder of the datastore. */
  path: string;
  sizeBytes: number;
  /** Lower-case hex SHA-256 of the file's bytes. */
  sha256: string;
  /**
   * With digestRangeBytes, for a file over digestRangesOverBytes: lower-case hex SHA-256 of each
   * consecutive range of that many bytes, in order (none for an empty file).
   */
  rangeSha256?: string[];
}

/** VMDKs staged for an export; the layers read stay locked (shared) until `release`. */
export interface StagedExport {
  operationId: string;
  files: StagedFile[];
  /** Removes the staging folder and lets the layers go. */
  release(): Promise<void>;
}

export interface ExportVmdk extends Command {
  source: LayerRef;
  /** Absolute path of the .vmdk to write (streamOptimized); published atomically. */
  targetPath: string;
}

export interface Fork extends Command {
  /** The running VM's disks and memory image, each with the id of the fork's new disk. */
  sources: Array<{ diskId: string; newDiskId: string }>;
}

export interface OpenLive extends Command {
  /** A disk (exported writable unless its top is frozen) or a frozen layer (read-only). */
  target: LayerRef;
}

export interface CloseLive extends Command {
  target: LayerRef;
}

export interface RestoreQuarantined extends Command {
  datastoreId: string;
  /** A quarantined layer's id (`GET` the quarantine to see them). */
  layerId: string;
}

/** What check moved aside on a datastore. */
export interface QuarantineEntry {
  /** layer: a quarantined layer (its file in place, refused to every use); file: an image no layer named, moved to `.dolly/quarantine/`. */
  kind: 'layer' | 'file';
  /** The layer id, or the file's name in `.dolly/quarantine/`. */
  entry: string;
  fileName: string;
  sizeBytes: number;
  /** layer: the disks whose chain reads it. */
  diskIds: string[];
  /** layer: whether restore may take it back (a file no layer names cannot be). */
  restorable: boolean;
}

export interface CheckDatastores extends Command {
  /** Repair what can be repaired and quarantine the rest; false only reports. */
  repair: boolean;
}

export interface OperationResult {
  operationId: string;
  /**
   * The graph changes this operation made, in order; empty when it changed nothing. The engine's
   * private events (model/events.ts): for the caller to read, never published.
   */
  events: DiskEngineEvent[];
}

export interface DiskResult extends OperationResult {
  diskId: string;
  datastoreId: string;
  layerId: string;
  capacityBytes: number;
  /** Bytes the disk's own new layer takes on the file system right after the operation. */
  allocatedBytes: number;
}

export interface SnapshotResult extends OperationResult {
  diskId: string;
  frozenLayerId: string;
  topLayerId: string;
  live: boolean;
}

export interface ForkResult extends OperationResult {
  forks: Array<{ sourceDiskId: string; diskId: string; layerId: string; export: LiveExport }>;
}

export interface ExportResult extends OperationResult {
  targetPath: string;
  sizeBytes: number;
}

export interface ReadRange {
  target: LayerRef;
  offsetBytes: number;
  lengthBytes: number;
}

export interface Inventory {
  disks: Disk[];
  layers: Layer[];
  exports: LiveExport[];
}

export interface DiskEnginePort {
  createDisk(command: CreateDisk, options?: OperationOptions): Promise<DiskResult>;
  snapshot(command: SnapshotDisk, options?: OperationOptions): Promise<SnapshotResult>;
  freeze(command: FreezeDisk, options?: OperationOptions): Promise<OperationResult>;
  linkedClone(command: LinkedClone, options?: OperationOptions): Promise<DiskResult>;
  /** From a live disk this is a point-in-time copy, taken while it keeps being written. */
  fullClone(command: FullClone, options?: OperationOptions): Promise<DiskResult>;
  consolidate(command: Consolidate, options?: OperationOptions): Promise<OperationResult>;
  materialise(command: Materialise, options?: OperationOptions): Promise<OperationResult>;
  /** The disk reads as at one of its frozen layers again: a new empty delta over it; newer layers go. */
  revert(command: RevertDisk, options?: OperationOptions): Promise<DiskResult>;
  deleteDisk(command: DeleteDisk, options?: OperationOptions): Promise<OperationResult>;
  importImage(command: ImportImage, options?: OperationOptions): Promise<DiskResult>;
  exportVmdk(command: ExportVmdk, options?: OperationOptions): Promise<ExportResult>;
  /**
   * Opens an import session: refused before any byte (DISK.NO_SPACE...) when the disk cannot be
   * had. The signal aborts the session as `abort` does; progress is the guest bytes written.
   */
  beginDiskImport(
    command: ImportDiskStream,
    options?: OperationOptions,
  ): Promise<DiskImportSession>;
  /** Converts disks to streamOptimized VMDKs in a private folder of their datastore, until release. */
  stageExport(command: StageExport, options?: OperationOptions): Promise<StagedExport>;
  fork(command: Fork, options?: OperationOptions): Promise<ForkResult>;
  openLive(command: OpenLive, options?: OperationOptions): Promise<LiveExport>;
  closeLive(command: CloseLive, options?: OperationOptions): Promise<void>;
  check(command: CheckDatastores, options?: OperationOptions): Promise<CheckReport>;
  /** What check moved aside on a datastore: quarantined layers, and files no layer named. */
  quarantined(datastoreId: string): Promise<QuarantineEntry[]>;
  /**
   * Takes a quarantined layer back once checked again (it must now be a sound qcow2 on its graph
   * backing, with nothing below it quarantined); else DISK.STILL_BROKEN and it stays.
   */
  restoreQuarantined(
    command: RestoreQuarantined,
    options?: OperationOptions,
  ): Promise<OperationResult>;

  /** Small reads and writes by the control plane (tests, memory pages); VMs use the NBD exports. */
  read(range: ReadRange): Promise<Buffer>;
  write(command: { diskId: string; offsetBytes: number; data: Uint8Array }): Promise<void>;

  blockMap(query: {
    target: LayerRef;
    offsetBytes?: number;
    lengthBytes?: number;
  }): Promise<BlockMap>;
  space(datastoreId: string): Promise<DatastoreSpace>;
  inventory(): Inventory;
}
