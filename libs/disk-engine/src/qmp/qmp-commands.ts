/**
 * The QMP commands and events Dolly uses, typed from QEMU 7.2's QAPI schema
 * (qapi/block-core.json, qapi/block-export.json, qapi/job.json, qapi/qom.json). Only the
 * members we send or read are listed; QMP ignores nothing, so a typo fails to compile.
 */

/** qapi JobStatus: a job's life, created -> running -> (ready) -> waiting -> pending -> concluded -> null. */
export type JobStatus =
  | 'undefined'
  | 'created'
  | 'running'
  | 'paused'
  | 'ready'
  | 'standby'
  | 'waiting'
  | 'pending'
  | 'aborting'
  | 'concluded'
  | 'null';

export interface JobInfo {
  id: string;
  type: 'commit' | 'stream' | 'mirror' | 'backup' | 'create' | 'amend' | string;
  status: JobStatus;
  'current-progress': number;
  'total-progress': number;
  /** Human-readable; present iff the job failed. Never parsed. */
  error?: string;
}

export interface FileNodeOptions {
  driver: 'file';
  'node-name'?: string;
  filename: string;
  'read-only'?: boolean;
  aio?: 'threads' | 'native' | 'io_uring';
  discard?: 'ignore' | 'unmap';
  cache?: { direct?: boolean; 'no-flush'?: boolean };
}

export interface Qcow2NodeOptions {
  driver: 'qcow2';
  'node-name': string;
  'read-only'?: boolean;
  discard?: 'ignore' | 'unmap';
  'detect-zeroes'?: 'off' | 'on' | 'unmap';
  'l2-cache-size'?: number;
  'refcount-cache-size'?: number;
  'cache-clean-interval'?: number;
  /** Inline options, or the name of an existing node (blockdev-reopen needs the name). */
  file: FileNodeOptions | string;
  /** A node name, or null for "no backing" (the header's backing string is not opened). */
  backing?: string | null;
}

export type BlockdevOptions = Qcow2NodeOptions | (FileNodeOptions & { 'node-name': string });

export type BlockdevCreateOptions =
  | { driver: 'file'; filename: string; size: number; preallocation?: 'off' | 'falloc' | 'full' }
  | {
      driver: 'qcow2';
      file: string;
      size: number;
      'cluster-size'?: number;
      preallocation?: 'off' | 'metadata' | 'falloc' | 'full';
      'backing-file'?: string;
      'backing-fmt'?: 'qcow2';
    };

export type SocketAddressLegacy =
  { type: 'unix'; data: { path: string } } | { type: 'inet'; data: { host: string; port: string } };

export interface JobOptions {
  'job-id': string;
  'auto-finalize'?: boolean;
  /** Always false here: a job stays until we have read how it ended (job-dismiss). */
  'auto-dismiss'?: boolean;
}

export interface QmpCommands {
  qmp_capabilities: { args: Record<string, never>; ret: Record<string, never> };
  quit: { args: Record<string, never>; ret: Record<string, never> };
  'query-version': {
    args: Record<string, never>;
    ret: { qemu: { major: number; minor: number; micro: number } };
  };
  'blockdev-add': { args: BlockdevOptions; ret: Record<string, never> };
  'blockdev-del': { args: { 'node-name': string }; ret: Record<string, never> };
  'blockdev-reopen': { args: { options: BlockdevOptions[] }; ret: Record<string, never> };
  'blockdev-create': {
    args: { 'job-id': string; options: BlockdevCreateOptions };
    ret: Record<string, never>;
  };
  'blockdev-snapshot': { args: { node: string; overlay: string }; ret: Record<string, never> };
  'blockdev-backup': {
    args: JobOptions & { device: string; target: string; sync: 'full' | 'top' | 'none' };
    ret: Record<string, never>;
  };
  'block-stream': {
    args: JobOptions & { device: string; 'base-node'?: string; 'backing-file'?: string };
    ret: Record<string, never>;
  };
  'query-jobs': { args: Record<string, never>; ret: JobInfo[] };
  'job-dismiss': { args: { id: string }; ret: Record<string, never> };
  'job-cancel': { args: { id: string }; ret: Record<string, never> };
  'job-complete': { args: { id: string }; ret: Record<string, never> };
  'nbd-server-start': {
    args: { addr: SocketAddressLegacy; 'tls-creds'?: string; 'max-connections'?: number };
    ret: Record<string, never>;
  };
  'block-export-add': {
    args: {
      type: 'nbd';
      id: string;
      'node-name': string;
      name: string;
      writable: boolean;
      writethrough?: boolean;
      /** Offers the `qemu:allocation-depth` meta context: which layer of the chain holds a block. */
      'allocation-depth'?: boolean;
    };
    ret: Record<string, never>;
  };
  'block-export-del': { args: { id: string; mode?: 'safe' | 'hard' }; ret: Record<string, never> };
  'query-block-exports': {
    args: Record<string, never>;
    ret: Array<{ id: string; type: string; 'node-name': string; 'shutting-down': boolean }>;
  };
  'query-named-block-nodes': {
    args: { flat?: boolean };
    ret: Array<{ 'node-name': string; file: string; ro: boolean; drv: string }>;
  };
  'object-add': {
    args: {
      'qom-type': 'tls-creds-x509';
      id: string;
      dir: string;
      endpoint: 'server';
      'verify-peer': boolean;
    };
    ret: Record<string, never>;
  };
}

export type QmpCommandName = keyof QmpCommands;

export interface QmpEvents {
  JOB_STATUS_CHANGE: { id: string; status: JobStatus };
  BLOCK_EXPORT_DELETED: { id: string };
  SHUTDOWN: { guest: boolean; reason: string };
}

export type QmpEventName = keyof QmpEvents;
