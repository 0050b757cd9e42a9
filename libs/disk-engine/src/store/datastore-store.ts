/**
 * Dolly's metadata on the datastore itself, beside the images, so that a restarted worker (or
 * another host) recovers the layer graph from the folder alone:
 *
 *   <datastore>/
 *     <layerId>.qcow2              the images; backing strings are bare file names in this folder
 *     .dolly/manifest.json         checkpoint: graph + recent operation records, written atomically
 *     .dolly/oplog.<n>.jsonl       log segments: every operation entry since the checkpoint, one
 *                                  JSON line each, on disk (fdatasync) before the operation goes on
 *     .dolly/live.json             exports to bring back after a restart (see live-state.ts)
 *     .dolly/templates/            empty overlays kept for reuse (a cache; safe to delete)
 *     .dolly/quarantine/           what check moved aside
 *
 * The log is a write-ahead log: the graph is the checkpoint plus the committed events after it.
 * A checkpoint starts a new segment at once and writes the manifest in the background, so no
 * operation waits for it; segments the manifest covers are deleted after it is on disk. A line
 * torn by a crash mid-append can only be the last line of the last segment, and is cut off.
 */
import { mkdir, open, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { evolveAll } from '../model/events';
import { type LayerGraph, emptyGraph } from '../model/layer-graph';
import {
  type OperationLogEntry,
  type OperationRecord,
  applyLogEntry,
} from '../model/operation-log';
import { DurableLog, fsyncPath, writeFileAtomic } from './fs-atomic';

export const METADATA_DIR = '.dolly';
const MANIFEST = 'manifest.json';
const SEGMENT = /^oplog\.(\d+)\.jsonl$/;
const FORMAT_VERSION = 1;

/** Finished records kept for idempotent replays; older ids run again as new operations. */
export const RECORDS_KEPT = 2048;
/** Committed operations between checkpoints: bounds replay time and the log's size. */
const CHECKPOINT_EVERY = 512;

interface Manifest {
  formatVersion: number;
  datastoreId: string;
  checkpointSeq: number;
  writtenAt: string;
  graph: LayerGraph;
  operations: OperationRecord[];
}

type SequencedEntry = OperationLogEntry & { seq: number };

export interface LoadedDatastore {
  graph: LayerGraph;
  records: Map<string, OperationRecord>;
  /** Bytes of a torn last log line that were cut off (0 when the log was whole). */
  tornTailBytes: number;
}

export function metadataPaths(root: string) {
  const dir = join(root, METADATA_DIR);
  return {
    dir,
    manifest: join(dir, MANIFEST),
    segment: (n: number) => join(dir, `oplog.${n}.jsonl`),
    templates: join(dir, 'templates'),
    quarantine: join(dir, 'quarantine'),
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

export class DatastoreStore {
  private log?: DurableLog;
  private segment = 0;
  private seq = 0;
  private sinceCheckpoint = 0;
  private background?: Promise<void>;
  private readonly paths: ReturnType<typeof metadataPaths>;

  constructor(
    readonly datastoreId: string,
    readonly root: string,
  ) {
    this.paths = metadataPaths(root);
  }

  async load(): Promise<LoadedDatastore> {
    await mkdir(this.paths.templates, { recursive: true });
    await mkdir(this.paths.quarantine, { recursive: true });
    const manifest = await this.readManifest();
    const checkpointSeq = manifest?.checkpointSeq ?? 0;
    let graph = manifest?.graph ?? emptyGraph;
    const records = new Map((manifest?.operations ?? []).map((r) => [r.operationId, r]));
    this.seq = checkpointSeq;
    const segments = await this.segments();
    let tornTailBytes = 0;
    let endBytes = 0;
    for (const [i, n] of segments.entries()) {
      const read = await this.readSegment(n, i === segments.length - 1);
      tornTailBytes += read.tornTailBytes;
      endBytes = read.endBytes;
      for (const entry of read.entries) {
        if (entry.seq <= checkpointSeq) continue;
        this.seq = entry.seq;
        records.set(entry.operationId, applyLogEntry(records.get(entry.operationId), entry));
        if (entry.phase === 'committed') graph = evolveAll(graph, entry.events);
      }
    }
    trimRecords(records);
    this.segment = segments.at(-1) ?? 0;
    if (this.segment === 0) await this.startSegment();
    else this.log = await DurableLog.open(this.paths.segment(this.segment), endBytes);
    return { graph, records, tornTailBytes };
  }

  async append(entry: OperationLogEntry): Promise<void> {
    if (!this.log) throw new Error(`datastore ${this.datastoreId} is not loaded`);
    this.seq += 1;
    await this.log.append(JSON.stringify({ seq: this.seq, ...entry }));
    if (entry.phase !== 'started') this.sinceCheckpoint += 1;
  }

  get checkpointDue(): boolean {
    return this.sinceCheckpoint >= CHECKPOINT_EVERY && !this.background;
  }

  /**
   * Checkpoints everything logged so far: the state is captured now and a new segment started;
   * the manifest is written, and the older segments removed, in the background. The caller must
   * not append meanwhile (it holds the engine's critical section). `wait` waits for the writing.
   */
  async checkpoint(
    graph: LayerGraph,
    records: Map<string, OperationRecord>,
    now: string,
    wait = false,
  ): Promise<void> {
    await this.background;
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
    const covered = this.segment;
    await this.startSegment();
    this.sinceCheckpoint = 0;
    const write = (async () => {
      await writeFileAtomic(this.paths.manifest, text);
      for (const n of await this.segments())
        if (n <= covered) await rm(this.paths.segment(n), { force: true });
    })();
    this.background = write.finally(() => (this.background = undefined)).catch(() => undefined);
    if (wait) await write;
  }

  async close(): Promise<void> {
    await this.background;
    await this.log?.close();
    this.log = undefined;
  }

  /** A new segment's name must be on disk before anything appended to it is acknowledged. */
  private async startSegment(): Promise<void> {
    await this.log?.close();
    this.segment += 1;
    this.log = await DurableLog.open(this.paths.segment(this.segment));
    await fsyncPath(this.paths.dir);
  }

  private async segments(): Promise<number[]> {
    return (await readdir(this.paths.dir))
      .map((name) => SEGMENT.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  private async readManifest(): Promise<Manifest | undefined> {
    let text: string;
    try {
      text = await readFile(this.paths.manifest, 'utf8');
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

  /** Reads a segment up to its end (the first NUL byte, see DurableLog). */
  private async readSegment(
    n: number,
    last: boolean,
  ): Promise<{ entries: SequencedEntry[]; tornTailBytes: number; endBytes: number }> {
    const path = this.paths.segment(n);
    const bytes = await readFile(path);
    const nul = bytes.indexOf(0);
    const content = bytes.subarray(0, nul < 0 ? bytes.length : nul);
    const entries: SequencedEntry[] = [];
    let endBytes = 0;
    while (endBytes < content.length) {
      const newline = content.indexOf(0x0a, endBytes);
      const line = content
        .subarray(endBytes, newline < 0 ? content.length : newline)
        .toString('utf8');
      try {
        if (newline < 0) throw new Error('line without its end');
        if (line !== '') entries.push(JSON.parse(line) as SequencedEntry);
      } catch (error) {
        // Only an append cut short by a crash can tear a line, and only the very last one.
        if (!last) throw error;
        break;
      }
      endBytes = newline + 1;
    }
    const tornTailBytes = content.length - endBytes;
    if (tornTailBytes > 0) {
      // Zeros again where the torn line was, so that the log still ends at its first NUL.
      const handle = await open(path, 'r+');
      await handle.write(Buffer.alloc(tornTailBytes), 0, tornTailBytes, endBytes);
      await handle.sync();
      await handle.close();
    }
    return { entries, tornTailBytes, endBytes };
  }
}
