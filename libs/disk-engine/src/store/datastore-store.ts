/**
 * Dolly's metadata on the datastore itself, beside the images, so that a restarted worker (or
 * another host) recovers the layer graph from the folder alone:
 *
 *   <datastore>/
 *     <layerId>.qcow2              the images; backing strings are bare file names in this folder
 *     .dolly/manifest.json         checkpoint: graph + recent operation records, written atomically
 *     .dolly/oplog.<n>.jsonl       log segments: every operation entry since the checkpoint, one
 *                                  JSON line each, on disk (fdatasync) before the operation goes on
 *     .dolly/lock                  lock file: byte 0 guards the log (one appender at a time across
 *                                  processes), byte 1 the writing of a checkpoint (see file-lock.ts)
 *     .dolly/owners/<ownerId>.lock held locked by each running engine: its liveness (owners.ts)
 *     .dolly/live.<worker>.json    exports to bring back after a restart (see live-state.ts)
 *     .dolly/templates/            empty overlays kept for reuse (a cache; safe to delete)
 *     .dolly/quarantine/           what check moved aside
 *
 * The log is a write-ahead log: the graph is the checkpoint plus the committed events after it.
 * A checkpoint starts a new segment at once and writes the manifest in the background, so no
 * operation waits for it; segments the manifest covers are deleted after it is on disk. A line
 * torn by a crash mid-append can only be the last line of the last segment, and is cut off.
 *
 * Several engines (worker processes, on one host or several) may share a datastore. Each keeps
 * a cursor into the log and reads what the others appended (`readNew`), cheaply: one read at its
 * cursor and a folder listing when nothing is new. Appending, starting a segment and cutting a
 * torn line happen only under the log lock, after reading up to the end, so every appender
 * writes at the true end of the newest segment and sequence numbers stay one series. A reader
 * that fell behind a checkpoint whose segments are already gone reloads from the manifest.
 */
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  writeSync,
} from 'node:fs';
import { type FileHandle, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { evolveAll } from '../model/events';
import { type LayerGraph, emptyGraph } from '../model/layer-graph';
import {
  type OperationLogEntry,
  type OperationRecord,
  applyLogEntry,
} from '../model/operation-log';
import { DurableLog, fsyncPath, writeFileAtomic } from './fs-atomic';
import { SpaceReserve } from './space-reserve';
import { lockRange, openLockFile, tryLockRange, unlockRange } from './file-lock';

export const METADATA_DIR = '.dolly';
const MANIFEST = 'manifest.json';
const SEGMENT = /^oplog\.(\d+)\.jsonl$/;
const FORMAT_VERSION = 1;

/** Finished records kept for idempotent replays; older ids run again as new operations. */
export const RECORDS_KEPT = 2048;
/** Committed operations between checkpoints: bounds replay time and the log's size. */
const CHECKPOINT_EVERY = 512;
/** Bytes of .dolly/lock: one appender at a time; one checkpoint writer at a time. */
const LOG_LOCK = 0;
const CHECKPOINT_LOCK = 1;
/** How long an operation waits for another process's section before DISK.BUSY. */
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

interface Manifest {
  formatVersion: number;
  datastoreId: string;
  checkpointSeq: number;
  writtenAt: string;
  graph: LayerGraph;
  operations: OperationRecord[];
}

export type SequencedEntry = OperationLogEntry & { seq: number };

export interface LoadedDatastore {
  graph: LayerGraph;
  records: Map<string, OperationRecord>;
  /** Bytes of a torn last log line that were cut off (0 when the log was whole). */
  tornTailBytes: number;
}

/** What `readNew` found since the last read: entries to fold, or the whole datastore again. */
export type LogChanges =
  { kind: 'entries'; entries: SequencedEntry[] } | { kind: 'reload'; loaded: LoadedDatastore };

export function metadataPaths(root: string) {
  const dir = join(root, METADATA_DIR);
  return {
    dir,
    manifest: join(dir, MANIFEST),
    segment: (n: number) => join(dir, `oplog.${n}.jsonl`),
    lock: join(dir, 'lock'),
    owners: join(dir, 'owners'),
    templates: join(dir, 'templates'),
    quarantine: join(dir, 'quarantine'),
    reserve: join(dir, 'reserve'),
  };
}

/** Keeps every unfinished record and the most recent finished ones. */
export function trimRecords(records: Map<string, OperationRecord>, keep = RECORDS_KEPT): void {
  const finished = [...records.values()].filter((r) => r.status !== 'started');
  if (finished.length <= keep) return;
  finished
    .sort((a, b) => (a.finishedAt ?? '').localeCompare(b.finishedAt ?? ''))
    .slice(0, finished.length - keep)
    .forEach((r) => records.delete(r.operationId));
}

/**
 * A finished record keeps what replays and check need (status, fingerprint, result, the files
 * it published or released); its planned events are in its result or no longer matter.
 */
function compact(record: OperationRecord): OperationRecord {
  if (record.status === 'started') return record;
  const { events: _events, result: _result, ...files } = record.intent;
  return { ...record, intent: { ...files, events: [] } };
}

/**
 * Folds log entries into a datastore's graph and records (the one place that replays a log).
 * What the log says stands: an id it starts again is a new operation, even where these records
 * still keep a finished one under that id (each engine trims its records on its own).
 */
export function foldEntries(
  graph: LayerGraph,
  records: Map<string, OperationRecord>,
  entries: readonly SequencedEntry[],
): LayerGraph {
  for (const entry of entries) {
    const before = entry.phase === 'started' ? undefined : records.get(entry.operationId);
    records.set(entry.operationId, applyLogEntry(before, entry));
    if (entry.phase === 'committed') graph = evolveAll(graph, entry.events);
  }
  return graph;
}

/** Where this process has read the log up to. */
interface Cursor {
  segment: number;
  offsetBytes: number;
  fd?: number;
}

export class DatastoreStore {
  private log?: DurableLog;
  private logSegment = 0;
  private lockFile?: FileHandle;
  private cursor: Cursor = { segment: 0, offsetBytes: 0 };
  private seq = 0;
  private sinceCheckpoint = 0;
  private tornTailBytes = 0;
  private background?: Promise<void>;
  private readonly paths: ReturnType<typeof metadataPaths>;
  /** Space kept for the log: a full datastore still logs the deletes that free it. */
  private readonly spare: SpaceReserve;
  private readonly whenFull = <T>(write: () => Promise<T>) => this.spare.writeThrough(write);

  constructor(
    readonly datastoreId: string,
    readonly root: string,
    private readonly lockTimeoutMs = DEFAULT_LOCK_TIMEOUT_MS,
  ) {
    this.paths = metadataPaths(root);
    this.spare = new SpaceReserve(this.paths.reserve);
  }

  /** Reads the whole datastore (under the log lock: a torn tail is cut, a first segment made). */
  async load(): Promise<LoadedDatastore> {
    await mkdir(this.paths.templates, { recursive: true });
    await mkdir(this.paths.quarantine, { recursive: true });
    await mkdir(this.paths.owners, { recursive: true });
    this.lockFile ??= await openLockFile(this.paths.lock);
    try {
      return await this.locked(async () => {
        const loaded = this.reload(true);
        if (this.cursor.segment === 0) await this.startSegment();
        await this.spare.ensure().catch(() => false);
        return { ...loaded, tornTailBytes: this.tornTailBytes };
      });
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /**
   * Runs `section` holding the log lock (other processes wait; this one must not call it again
   * inside). The caller reads what is new (`readNew(true)`) before deciding and appending.
   */
  async locked<T>(section: () => Promise<T>): Promise<T> {
    const lockFile = this.lockFile;
    if (!lockFile) throw new Error(`datastore ${this.datastoreId} is not loaded`);
    await lockRange(lockFile, LOG_LOCK, this.lockTimeoutMs, {
      datastoreId: this.datastoreId,
      lock: 'log',
    });
    try {
      return await section();
    } finally {
      unlockRange(lockFile, LOG_LOCK);
    }
  }

  /**
   * What other processes logged since the last read. Synchronous, so that queries answering at
   * once (inventory) can call it; costs a read at the cursor and a folder listing when nothing is
   * new. `locked`: the caller holds the log lock, so a line without its end was torn by a crash
   * and is cut; without the lock it may be an append under way and is left for the next read.
   */
  readNew(locked: boolean): LogChanges {
    const entries: SequencedEntry[] = [];
    for (;;) {
      if (this.cursor.fd === undefined) {
        try {
          this.cursor.fd = openSync(this.paths.segment(this.cursor.segment), 'r+');
        } catch (error) {
          // Removed by a checkpoint before this process read it: the manifest covers it.
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || this.cursor.segment === 0)
            throw error;
          return { kind: 'reload', loaded: this.reload(locked) };
        }
      }
      const read = this.readSegment(
        this.cursor.segment,
        this.cursor.fd,
        this.cursor.offsetBytes,
        locked,
      );
      for (const entry of read.entries) this.count(entry);
      entries.push(...read.entries);
      this.cursor.offsetBytes = read.endBytes;
      // A line under way (unlocked) keeps the cursor here: the segment is not finished with.
      if (!read.complete) break;
      const later = this.segments().filter((n) => n > this.cursor.segment);
      if (later.length === 0) break;
      if (later[0] !== this.cursor.segment + 1) {
        // Checkpoints came and went: segments this process never read are gone.
        return { kind: 'reload', loaded: this.reload(locked) };
      }
      this.moveCursor(later[0], 0);
    }
    return { kind: 'entries', entries };
  }

  /** Appends under the log lock, at the end `readNew(true)` found. */
  async append(entry: OperationLogEntry): Promise<void> {
    if (!this.log || this.logSegment !== this.cursor.segment) {
      await this.log?.close();
      this.log = await DurableLog.open(
        this.paths.segment(this.cursor.segment),
        this.cursor.offsetBytes,
        this.whenFull,
      );
      this.logSegment = this.cursor.segment;
    }
    this.seq += 1;
    const line = JSON.stringify({ seq: this.seq, ...entry });
    const at = this.cursor.offsetBytes;
    this.log.seek(at);
    // The cursor passes the line before it is written: a read without the lock meanwhile (this
    // process's queries) must not fold it a second time.
    this.cursor.offsetBytes += Buffer.byteLength(line) + 1;
    try {
      await this.log.append(line);
    } catch (error) {
      this.cursor.offsetBytes = at;
      throw error;
    }
    if (entry.phase !== 'started') {
      this.sinceCheckpoint += 1;
      // Made again once an operation ended and there is room (a delete freed some).
      await this.spare.ensure().catch(() => false);
    }
  }

  get checkpointDue(): boolean {
    return this.sinceCheckpoint >= CHECKPOINT_EVERY && !this.background;
  }

  /** Bytes of torn lines cut since the last call (check reports them). */
  takeTornTailBytes(): number {
    const bytes = this.tornTailBytes;
    this.tornTailBytes = 0;
    return bytes;
  }

  /**
   * Checkpoints everything logged so far: the state is captured now and a new segment started;
   * the manifest is written, and the older segments removed, in the background. The caller holds
   * the log lock and has read up to the end. One process writes a checkpoint at a time (the
   * checkpoint lock, held until its segments are removed): when another one is being written this
   * one is skipped, so a manifest is never replaced by an older one. `wait` waits for the writing.
   */
  async checkpoint(
    graph: LayerGraph,
    records: Map<string, OperationRecord>,
    now: string,
    wait = false,
  ): Promise<void> {
    await this.background;
    const lockFile = this.lockFile;
    if (!lockFile || !tryLockRange(lockFile, CHECKPOINT_LOCK)) return;
    const manifest: Manifest = {
      formatVersion: FORMAT_VERSION,
      datastoreId: this.datastoreId,
      checkpointSeq: this.seq,
      writtenAt: now,
      graph,
      operations: [...records.values()]
        .filter((r) => r.datastoreId === this.datastoreId)
        .map(compact),
    };
    const text = JSON.stringify(manifest);
    const covered = this.cursor.segment;
    try {
      await this.startSegment();
    } catch (error) {
      unlockRange(lockFile, CHECKPOINT_LOCK);
      throw error;
    }
    this.sinceCheckpoint = 0;
    const write = (async () => {
      try {
        await writeFileAtomic(this.paths.manifest, text);
        for (const n of this.segments())
          if (n <= covered) await rm(this.paths.segment(n), { force: true });
      } finally {
        unlockRange(lockFile, CHECKPOINT_LOCK);
      }
    })();
    this.background = write.finally(() => (this.background = undefined)).catch(() => undefined);
    if (wait) await write;
  }

  async close(): Promise<void> {
    await this.background;
    await this.log?.close();
    this.log = undefined;
    if (this.cursor.fd !== undefined) closeSync(this.cursor.fd);
    this.cursor.fd = undefined;
    await this.lockFile?.close();
    this.lockFile = undefined;
  }

  /** A new segment's name must be on disk before anything appended to it is acknowledged. */
  private async startSegment(): Promise<void> {
    await this.log?.close();
    const n = this.cursor.segment + 1;
    this.log = await DurableLog.open(this.paths.segment(n), 0, this.whenFull);
    this.logSegment = n;
    await fsyncPath(this.paths.dir);
    this.moveCursor(n, 0);
  }

  private moveCursor(segment: number, offsetBytes: number): void {
    if (this.cursor.fd !== undefined) closeSync(this.cursor.fd);
    this.cursor = { segment, offsetBytes };
  }

  private count(entry: SequencedEntry): void {
    this.seq = Math.max(this.seq, entry.seq);
    if (entry.phase !== 'started') this.sinceCheckpoint += 1;
  }

  /** The manifest plus every segment after it, read again from the start. */
  private reload(locked: boolean): LoadedDatastore {
    // A checkpoint of another process may remove a segment between listing and reading it;
    // its manifest is then on disk, so reading again from the manifest finds everything.
    for (let attempt = 1; ; attempt++) {
      try {
        return this.reloadOnce(locked);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw error;
      }
    }
  }

  private reloadOnce(locked: boolean): LoadedDatastore {
    const manifest = this.readManifest();
    const checkpointSeq = manifest?.checkpointSeq ?? 0;
    let graph = manifest?.graph ?? emptyGraph;
    const records = new Map((manifest?.operations ?? []).map((r) => [r.operationId, r]));
    this.moveCursor(0, 0);
    this.seq = checkpointSeq;
    this.sinceCheckpoint = 0;
    const segments = this.segments();
    for (const [i, n] of segments.entries()) {
      const fd = openSync(this.paths.segment(n), 'r+');
      const last = i === segments.length - 1;
      let read;
      try {
        read = this.readSegment(n, fd, 0, locked && last, !last);
      } catch (error) {
        closeSync(fd);
        throw error;
      }
      const fresh = read.entries.filter((e) => e.seq > checkpointSeq);
      fresh.forEach((e) => this.count(e));
      graph = foldEntries(graph, records, fresh);
      this.moveCursor(n, read.endBytes);
      this.cursor.fd = fd;
    }
    trimRecords(records);
    return { graph, records, tornTailBytes: 0 };
  }

  private segments(): number[] {
    return readdirSync(this.paths.dir)
      .map((name) => SEGMENT.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  private readManifest(): Manifest | undefined {
    let text: string;
    try {
      text = readFileSync(this.paths.manifest, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const manifest = JSON.parse(text) as Manifest;
    if (manifest.formatVersion !== FORMAT_VERSION || manifest.datastoreId !== this.datastoreId) {
      throw new Error(
        `${this.paths.manifest} is format ${manifest.formatVersion} of datastore ${manifest.datastoreId}`,
      );
    }
    return manifest;
  }

  /**
   * Reads a segment from `fromBytes` up to its end (the first NUL byte, see DurableLog).
   * `cutTorn`: a line without its end is torn (the caller holds the lock) and is zeroed again.
   * `whole`: the segment is an older one, finished; any bad line in it is corruption.
   */
  private readSegment(
    n: number,
    fd: number,
    fromBytes: number,
    cutTorn: boolean,
    whole = false,
  ): { entries: SequencedEntry[]; endBytes: number; complete: boolean } {
    const content = readUpToNul(fd, fromBytes);
    const entries: SequencedEntry[] = [];
    let at = 0;
    while (at < content.length) {
      const newline = content.indexOf(0x0a, at);
      const line = content.subarray(at, newline < 0 ? content.length : newline).toString('utf8');
      try {
        if (newline < 0) throw new Error('line without its end');
        if (line !== '') entries.push(JSON.parse(line) as SequencedEntry);
      } catch (error) {
        // Only an append cut short by a crash (or, unlocked, still under way) can tear a line,
        // and only in the last segment.
        if (whole) throw error;
        break;
      }
      at = newline + 1;
    }
    const tornBytes = content.length - at;
    if (tornBytes > 0 && cutTorn) {
      // Zeros again where the torn line was, so that the log still ends at its first NUL.
      writeSync(fd, Buffer.alloc(tornBytes), 0, tornBytes, fromBytes + at);
      fsyncSync(fd);
      this.tornTailBytes += tornBytes;
    }
    return { entries, endBytes: fromBytes + at, complete: tornBytes === 0 || cutTorn };
  }
}

/** The bytes of a file from `fromBytes` to its first NUL (or its end), read in growing chunks. */
function readUpToNul(fd: number, fromBytes: number): Buffer {
  const parts: Buffer[] = [];
  let position = fromBytes;
  for (let size = 4096; ; size = Math.min(size * 2, 1024 * 1024)) {
    const chunk = Buffer.allocUnsafe(size);
    const read = readSync(fd, chunk, 0, size, position);
    const nul = chunk.subarray(0, read).indexOf(0);
    if (nul >= 0) {
      parts.push(chunk.subarray(0, nul));
      break;
    }
    parts.push(chunk.subarray(0, read));
    if (read < size) break;
    position += read;
  }
  return Buffer.concat(parts);
}
