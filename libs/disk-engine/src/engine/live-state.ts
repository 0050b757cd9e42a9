/**
 * Which disks and layers are exported, kept per datastore in .dolly/live.<workerId>.json so that
 * a restarted worker (or daemon) brings the same exports back under the same names, and so that
 * start-up check knows which images were open for writing when the worker died. Each worker
 * sharing a datastore has a file of its own: exports live in that worker's daemon only.
 *
 * It is a record of wishes, not of data: it is written atomically (never torn) but without
 * waiting for the disk, and off the operation's path, the latest state winning. After a power
 * loss the last few exports may not come back by themselves; no disk content depends on it.
 */
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { type LayerRef } from '../model/decide';
import { METADATA_DIR } from '../store/datastore-store';
import { writeFileAtomic } from '../store/fs-atomic';

export interface ExportSpec {
  exportName: string;
  target: LayerRef;
  writable: boolean;
  /** The layer the export served when recorded (a snapshot moves a disk's export up). */
  layerId: string;
}

/** Where a single worker kept its exports before workers shared datastores: read once, then moved. */
const LEGACY_FILE = 'live.json';

export class LiveState {
  private readonly specs = new Map<string, Map<string, ExportSpec>>();
  private readonly writing = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();

  private readonly file: string;

  constructor(
    private readonly roots: ReadonlyMap<string, string>,
    workerId: string,
  ) {
    this.file = `live.${workerId}.json`;
  }

  async load(): Promise<ExportSpec[]> {
    for (const [datastoreId, root] of this.roots) {
      const legacy = join(root, METADATA_DIR, LEGACY_FILE);
      const exports =
        (await readExports(join(root, METADATA_DIR, this.file))) ??
        (await rename(legacy, join(root, METADATA_DIR, this.file)).then(
          () => readExports(join(root, METADATA_DIR, this.file)),
          () => undefined,
        )) ??
        [];
      this.specs.set(datastoreId, new Map(exports.map((e) => [e.exportName, e])));
    }
    return this.all();
  }

  all(): ExportSpec[] {
    return [...this.specs.values()].flatMap((m) => [...m.values()]);
  }

  put(datastoreId: string, spec: ExportSpec): void {
    this.specs.get(datastoreId)?.set(spec.exportName, spec);
    this.schedule(datastoreId);
  }

  remove(exportName: string): void {
    for (const [datastoreId, specs] of this.specs) {
      if (specs.delete(exportName)) this.schedule(datastoreId);
    }
  }

  /** Waits until what was recorded so far is in the files. */
  async flush(): Promise<void> {
    while (this.writing.size) await Promise.all(this.writing.values());
  }

  private schedule(datastoreId: string): void {
    this.dirty.add(datastoreId);
    if (this.writing.has(datastoreId)) return;
    const write = (async () => {
      while (this.dirty.delete(datastoreId)) {
        const exports = [...(this.specs.get(datastoreId)?.values() ?? [])];
        const path = join(this.roots.get(datastoreId)!, METADATA_DIR, this.file);
        await writeFileAtomic(path, JSON.stringify({ exports }), { durable: false }).catch(
          () => undefined,
        );
      }
      this.writing.delete(datastoreId);
    })();
    this.writing.set(datastoreId, write);
  }
}

async function readExports(path: string): Promise<ExportSpec[] | undefined> {
  try {
    return (JSON.parse(await readFile(path, 'utf8')) as { exports: ExportSpec[] }).exports;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
