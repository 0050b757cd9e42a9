/**
 * qemu-img, typed from the JSON it prints (`--output=json`) and the exit codes it documents.
 * Offline work only: images in use are driven through the storage daemon instead. Every call
 * names the image format (`-f`) so that no file is ever opened as whatever it claims to be.
 */
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskEngineError } from '../errors';
import { type RawExtent } from '../model/block-map';
import { type ProvisioningFormat } from '../model/layer-graph';
import { type IoProgress, run } from './process';

/** The qemu-img binary: DOLLY_QEMU_IMG, read at every call (a test may point it at a broken one). */
export const qemuImgBinary = (): string => process.env.DOLLY_QEMU_IMG || 'qemu-img';

export type ImageFormat = 'qcow2' | 'raw' | 'vmdk';

/** qcow2 `preallocation` for each provisioning format. */
export const PREALLOCATION: Record<ProvisioningFormat, 'off' | 'falloc' | 'full'> = {
  thin: 'off',
  'thick-lazy-zeroed': 'falloc',
  'thick-eager-zeroed': 'full',
};

/** `qemu-img info --output=json`, the fields we use (qapi ImageInfo). */
interface QemuImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'cluster-size'?: number;
  'backing-filename'?: string;
  'backing-filename-format'?: string;
  'full-backing-filename'?: string;
  'dirty-flag'?: boolean;
  'format-specific'?: { type: string; data: Record<string, unknown> };
}

export interface ImageInfo {
  fileName: string;
  format: string;
  virtualSizeBytes: number;
  /** Bytes allocated on the file system, as QEMU sees them. */
  actualSizeBytes: number;
  clusterSizeBytes: number | null;
  /** The backing string exactly as stored in the header (relative names in Dolly's datastores). */
  backingFileName: string | null;
  backingFormat: string | null;
  /** qcow2: the image was marked corrupt by QEMU. */
  corrupt: boolean;
  /** qcow2 only: the external data file its clusters are read from (`data-file`), or null. */
  dataFileName: string | null;
  /** VMDK only: monolithicSparse, streamOptimized, ... */
  vmdkCreateType: string | null;
  /** VMDK only: file names of the extents. */
  vmdkExtentFileNames: string[];
}

function toImageInfo(raw: QemuImageInfo): ImageInfo {
  const data = raw['format-specific']?.data ?? {};
  const extents = Array.isArray(data.extents) ? (data.extents as Array<{ filename?: string }>) : [];
  return {
    fileName: raw.filename,
    format: raw.format,
    virtualSizeBytes: raw['virtual-size'],
    actualSizeBytes: raw['actual-size'] ?? 0,
    clusterSizeBytes: raw['cluster-size'] ?? null,
    backingFileName: raw['backing-filename'] ?? null,
    backingFormat: raw['backing-filename-format'] ?? null,
    corrupt: data.corrupt === true,
    dataFileName: typeof data['data-file'] === 'string' ? (data['data-file'] as string) : null,
    vmdkCreateType:
      typeof data['create-type'] === 'string' ? (data['create-type'] as string) : null,
    vmdkExtentFileNames: extents.map((e) => e.filename ?? ''),
  };
}

export interface ReadOptions {
  /** Open without taking QEMU's image lock: for images the storage daemon holds open. */
  forceShare?: boolean;
  cwd?: string;
  /** Kill the child after this long (it then fails with `timedOut` in its details). */
  timeoutMs?: number;
  /** Kill the child when the operation is cancelled. */
  signal?: AbortSignal;
}

const share = (options: ReadOptions) => (options.forceShare ? ['-U'] : []);

/** `format` undefined probes the format: only for checking what a file really is. */
export async function info(
  file: string,
  format: ImageFormat | undefined,
  options: ReadOptions = {},
): Promise<ImageInfo> {
  const fmt = format ? ['-f', format] : [];
  const { stdout } = await run(
    qemuImgBinary(),
    ['info', '--output=json', ...fmt, ...share(options), file],
    options,
  );
  return toImageInfo(JSON.parse(stdout) as QemuImageInfo);
}

/** The whole chain, top first, each image opened with the backing format its header names. */
export async function backingChain(file: string, options: ReadOptions = {}): Promise<ImageInfo[]> {
  const { stdout } = await run(
    qemuImgBinary(),
    ['info', '--output=json', '--backing-chain', '-f', 'qcow2', ...share(options), file],
    options,
  );
  return (JSON.parse(stdout) as QemuImageInfo[]).map(toImageInfo);
}

/** `qemu-img map --output=json` (qapi MapEntry): depth 0 is the image itself. */
interface QemuMapEntry {
  start: number;
  length: number;
  depth: number;
  present?: boolean;
  zero: boolean;
  data: boolean;
}

export async function map(
  file: string,
  format: ImageFormat,
  options: ReadOptions = {},
): Promise<RawExtent[]> {
  const { stdout } = await run(
    qemuImgBinary(),
    ['map', '--output=json', '-f', format, ...share(options), file],
    options,
  );
  return (JSON.parse(stdout) as QemuMapEntry[]).map((e) => ({
    startBytes: e.start,
    lengthBytes: e.length,
    // `present` is missing before QEMU 6.0; there, data or zero means some layer holds it.
    depth: (e.present ?? (e.data || e.zero)) ? e.depth : null,
    zero: e.zero,
  }));
}

export interface CreateOptions {
  file: string;
  capacityBytes: number;
  clusterSizeBytes: number;
  format: ProvisioningFormat;
  /** Overlay: the backing string written into the header, relative to the new file's folder. */
  backingFileName?: string;
  ioProgress?: IoProgress;
  signal?: AbortSignal;
  cwd?: string;
}

export async function create(options: CreateOptions): Promise<void> {
  const opts = [
    `cluster_size=${options.clusterSizeBytes}`,
    `preallocation=${PREALLOCATION[options.format]}`,
  ];
  // -u: the size is given, so the backing image need not be opened (it may be held by the daemon).
  const backing = options.backingFileName
    ? ['-u', '-b', options.backingFileName, '-F', 'qcow2']
    : [];
  await run(
    qemuImgBinary(),
    [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      opts.join(','),
      ...backing,
      options.file,
      String(options.capacityBytes),
    ],
    { ioProgress: options.ioProgress, signal: options.signal, cwd: options.cwd },
  );
}

export interface Measurement {
  /** Bytes the new image needs for what the source holds. */
  requiredBytes: number;
  /** Bytes it needs once every cluster is written. */
  fullyAllocatedBytes: number;
}

export async function measure(
  target: { format: ProvisioningFormat; clusterSizeBytes: number },
  source: { file: string; format: ImageFormat; forceShare?: boolean } | { capacityBytes: number },
): Promise<Measurement> {
  const from =
    'file' in source
      ? ['-f', source.format, ...(source.forceShare ? ['-U'] : []), source.file]
      : ['--size', String(source.capacityBytes)];
  const opts = `cluster_size=${target.clusterSizeBytes},preallocation=${PREALLOCATION[target.format]}`;
  const { stdout } = await run(qemuImgBinary(), [
    'measure',
    '--output=json',
    '-O',
    'qcow2',
    '-o',
    opts,
    ...from,
  ]);
  const parsed = JSON.parse(stdout) as { required: number; 'fully-allocated': number };
  return { requiredBytes: parsed.required, fullyAllocatedBytes: parsed['fully-allocated'] };
}

/** `qemu-img check --output=json` (qapi ImageCheck). */
export interface CheckResult {
  checkErrors: number;
  corruptions: number;
  leaks: number;
  corruptionsFixed: number;
  leaksFixed: number;
  /** Exit code: 0 clean, 2 corruptions left, 3 only leaks left. */
  exitCode: number;
}

/** Exit 1 (check could not run) and 63 (format cannot be checked) stay failures. */
export async function check(
  file: string,
  options: ReadOptions & { repair?: 'leaks' | 'all' } = {},
): Promise<CheckResult> {
  const repair = options.repair ? ['-r', options.repair] : [];
  const { stdout, exitCode } = await run(
    qemuImgBinary(),
    ['check', '--output=json', '-f', 'qcow2', ...repair, ...share(options), file],
    { okExitCodes: [2, 3], cwd: options.cwd, timeoutMs: options.timeoutMs },
  );
  const parsed = JSON.parse(stdout) as Record<string, number | undefined>;
  return {
    checkErrors: parsed['check-errors'] ?? 0,
    corruptions: parsed.corruptions ?? 0,
    leaks: parsed.leaks ?? 0,
    corruptionsFixed: parsed['corruptions-fixed'] ?? 0,
    leaksFixed: parsed['leaks-fixed'] ?? 0,
    exitCode,
  };
}

/** True when both read the same bytes (exit 0), false when they differ (exit 1). */
export async function compare(
  a: { file: string; format: ImageFormat },
  b: { file: string; format: ImageFormat },
  options: ReadOptions = {},
): Promise<boolean> {
  const { exitCode } = await run(
    qemuImgBinary(),
    ['compare', '-q', '-f', a.format, '-F', b.format, ...share(options), a.file, b.file],
    { okExitCodes: [1], cwd: options.cwd },
  );
  return exitCode === 0;
}

export interface ConvertOptions {
  source: { file: string; format: ImageFormat; forceShare?: boolean };
  target:
    | { file: string; format: 'qcow2'; provisioning: ProvisioningFormat; clusterSizeBytes: number }
    | { file: string; format: 'vmdk'; subformat: 'streamOptimized' | 'monolithicSparse' }
    | { file: string; format: 'raw' };
  ioProgress?: IoProgress;
  signal?: AbortSignal;
  cwd?: string;
}

function targetOptions(target: ConvertOptions['target']): string[] {
  switch (target.format) {
    case 'qcow2':
      return [
        '-o',
        `cluster_size=${target.clusterSizeBytes},preallocation=${PREALLOCATION[target.provisioning]}`,
      ];
    case 'vmdk':
      return ['-o', `subformat=${target.subformat}`];
    case 'raw':
      return [];
  }
}

/** Streams the source chain into a new image: bounded memory, no backing file in the target. */
export async function convert(options: ConvertOptions): Promise<void> {
  const { source, target } = options;
  await run(
    qemuImgBinary(),
    [
      'convert',
      '-f',
      source.format,
      ...(source.forceShare ? ['-U'] : []),
      '-O',
      target.format,
      ...targetOptions(target),
      source.file,
      target.file,
    ],
    { ioProgress: options.ioProgress, signal: options.signal, cwd: options.cwd },
  );
}

/** Writes the image's clusters into its backing file; -d keeps the image as it was. */
export async function commit(
  file: string,
  options: { signal?: AbortSignal; cwd?: string; ioProgress?: IoProgress } = {},
): Promise<void> {
  await run(qemuImgBinary(), ['commit', '-q', '-f', 'qcow2', '-d', file], options);
}

/**
 * Safe rebase: copies into the image every cluster that reads differently through the new
 * backing (null: none), then rewrites the header. Content as read through the image is unchanged.
 */
export async function rebase(
  file: string,
  backingFileName: string | null,
  options: { signal?: AbortSignal; cwd?: string; ioProgress?: IoProgress } = {},
): Promise<void> {
  const backing = backingFileName === null ? ['-b', ''] : ['-b', backingFileName, '-F', 'qcow2'];
  await run(qemuImgBinary(), ['rebase', '-q', '-f', 'qcow2', ...backing, file], options);
}

/** Bytes the file holds on the file system (allocated blocks, holes excluded). */
export async function allocatedBytes(file: string): Promise<number> {
  const s = await stat(file);
  return s.blocks * 512;
}

/** Bytes of the file that hold written data, from QEMU's view of the file itself (raw map). */
export async function writtenFileBytes(file: string): Promise<number> {
  const extents = await map(file, 'raw', { forceShare: true });
  return extents.filter((e) => !e.zero).reduce((total, e) => total + e.lengthBytes, 0);
}

/**
 * What `qemu-img info` says a file is, and whether that is QEMU's answer about the file at all.
 * `answer` when it printed the image's description, or refused the file (exit 1) while the same
 * binary describes a known-good image, reads nothing wrong when asked twice, and the file itself
 * can be read: only then is "not an image" QEMU's verdict. `undetermined` otherwise (the binary
 * cannot be started, crashed, was killed, timed out, printed something that is not its JSON, or
 * the file cannot be read): the file is left as it is.
 */
export type ProbedImage =
  | { kind: 'image'; info: ImageInfo }
  | { kind: 'refused'; detail: Record<string, unknown> }
  | { kind: 'undetermined'; detail: Record<string, unknown> };

const failureDetail = (error: unknown): Record<string, unknown> =>
  error instanceof DiskEngineError
    ? { code: error.code, message: error.message, ...error.details }
    : { message: error instanceof Error ? error.message : String(error) };

export async function probeImage(file: string, options: ReadOptions = {}): Promise<ProbedImage> {
  const once = async () => {
    try {
      return { kind: 'image' as const, info: await info(file, undefined, options) };
    } catch (error) {
      return { kind: 'failed' as const, error };
    }
  };
  const first = await once();
  if (first.kind === 'image') return first;
  const detail = failureDetail(first.error);
  const ranAndRefused =
    first.error instanceof DiskEngineError &&
    first.error.details.exitCode === 1 &&
    !first.error.details.killedBy &&
    !first.error.details.timedOut;
  if (!ranAndRefused) return { kind: 'undetermined', detail };
  const control = await describesKnownImage(options.timeoutMs);
  if (control !== true) return { kind: 'undetermined', detail: { ...detail, control } };
  try {
    const handle = await open(file, 'r');
    try {
      await handle.read(Buffer.alloc(4096), 0, 4096, 0);
    } finally {
      await handle.close();
    }
  } catch (error) {
    return { kind: 'undetermined', detail: { ...detail, read: (error as Error).message } };
  }
  const second = await once();
  if (second.kind === 'image') return second;
  return { kind: 'refused', detail };
}

/** Whether the configured qemu-img describes a qcow2 it has just made as qcow2. */
async function describesKnownImage(timeoutMs?: number): Promise<true | string> {
  const dir = await mkdtemp(join(tmpdir(), 'dolly-qemu-img-'));
  try {
    const file = join(dir, 'control.qcow2');
    await run(qemuImgBinary(), ['create', '-q', '-f', 'qcow2', file, '1M'], { timeoutMs });
    const seen = await info(file, undefined, { timeoutMs });
    return seen.format === 'qcow2' ? true : `control image described as ${seen.format}`;
  } catch (error) {
    return `qemu-img cannot describe a control image: ${(error as Error).message}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
