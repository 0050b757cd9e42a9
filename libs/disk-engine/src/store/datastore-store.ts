/**
 * Dolly's metadata on the datastore itself, beside the images, so that a restarted worker (or
 * another host) recovers the layer graph from the folder alone:
 *
 *   <datastore>/
 *     <layerId>.qcow2            the images; backing strings are bare file names in this folder
 *     .dolly/manifest.json       checkpoint: graph + recent operation records, written atomically
 *     .dolly/oplog.jsonl         every operation entry since the checkpoint, one JSON line each,
 *                                on disk (fdatasync) before the operation goes on
 *     .dolly/templates/          empty overlays kept for reuse (a cache; safe to delete)
 *     .dolly/quarantine/         what check moved aside
 *
 * The log is a write-ahead log: the graph is the checkpoint plus the committed events after it.
 * A line torn by a crash mid-append is the last line, and is cut off on open.
 */
import { mkdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { evolveAll } from '../model/events';
import { type LayerGraph, emptyGraph } from '../model/layer-graph';
import {
  type OperationLogEntry,
  type OperationRecord,
  applyLogEntry,
} from '../model/operation-log';
import { DurableLog, writeFileAtomic } from './fs-atomic';

export const METADATA_DIR = '.dolly';
const MANIFEST = 'manifest.json';
const OPLOG = 'oplog.jsonl';
const FORMAT_VERSION = 1;

/** Finished records kept for idempotent replays; older ids run again as new operations. */
export const RECORDS_KEPT = 4096;
/** Committed operations between checkpoints: bounds replay time and the log's size. */
const CHECKPOINT_EVERY = 256;

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
    oplog: join(dir, OPLOG),
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

export class DatastoreStore {
  private log?: DurableLog;
  private seq = 0;
  private sinceCheckpoint = 0;
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
    let graph = manifest?.graph ?? emptyGraph;
    const records = new Map((manifest?.operations ?? []).map((r) => [r.operationId, r]));
    this.seq = manifest?.checkpointSeq ?? 0;
    const { entries, tornTailBytes } = await this.readLog();
    for (const entry of entries) {
      if (entry.seq <= (manifest?.checkpointSeq ?? 0)) continue;
      this.seq = entry.seq;
      records.set(entry.operationId, applyLogEntry(records.get(entry.operationId), entry));
      if (entry.phase === 'committed') graph = evolveAll(graph, entry.events);
    }
    trimRecords(records);
    this.log = await DurableLog.open(this.paths.oplog);
    return { graph, records, tornTailBytes };
  }

  async append(entry: OperationLogEntry): Promise<void> {
    if (!this.log) throw new Error(`datastore ${this.datastoreId} is not loaded`);
    this.seq += 1;
    await this.log.append(JSON.stringify({ seq: this.seq, ...entry }));
    if (entry.phase !== 'started') this.sinceCheckpoint += 1;
  }

  get checkpointDue(): boolean {
    return this.sinceCheckpoint >= CHECKPOINT_EVERY;
  }

  /**
   * Writes the manifest for everything logged so far, then starts an empty log. The manifest
   * names the last sequence it holds, so a crash between the two steps replays nothing twice.
   * The caller must not append meanwhile.
   */
  async checkpoint(
    graph: LayerGraph,
    records: Map<string, OperationRecord>,
    now: string,
  ): Promise<void> {
    const manifest: Manifest = {
      formatVersion: FORMAT_VERSION,
      datastoreId: this.datastoreId,
      checkpointSeq: this.seq,
      writtenAt: now,
      graph,
      operations: [...records.values()].filter((r) => r.datastoreId === this.datastoreId),
    };
    await writeFileAtomic(this.paths.manifest, JSON.stringify(manifest));
    await this.log?.close();
    await writeFileAtomic(this.paths.oplog, '');
    this.log = await DurableLog.open(this.paths.oplog);
    this.sinceCheckpoint = 0;
  }

  async close(): Promise<void> {
    await this.log?.close();
    this.log = undefined;
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

  private async readLog(): Promise<{ entries: SequencedEntry[]; tornTailBytes: number }> {
    let text: string;
    try {
      text = await readFile(this.paths.oplog, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        return { entries: [], tornTailBytes: 0 };
      throw error;
    }
    const entries: SequencedEntry[] = [];
    let goodBytes = 0;
    for (const line of text.split('\n')) {
      if (line === '') {
        goodBytes += 1;
        continue;
      }
      try {
        entries.push(JSON.parse(line) as SequencedEntry);
        goodBytes += Buffer.byteLength(line) + 1;
      } catch {
        break; // a torn append: only the last line can be, and nothing after it was acknowledged
      }
    }
    const total = Buffer.byteLength(text);
    const kept = Math.min(goodBytes, total);
    if (kept < total) await truncate(this.paths.oplog, kept);
    return { entries, tornTailBytes: total - kept };
  }
}
