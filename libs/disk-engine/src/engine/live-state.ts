/**
 * Which disks and layers are exported, kept per datastore in .dolly/live.json so that a
 * restarted worker (or daemon) brings the same exports back under the same names, and so that
 * start-up check knows which images were open for writing when the worker died.
 *
 * It is a record of wishes, not of data: it is written atomically (never torn) but without
 * waiting for the disk, and off the operation's path, the latest state winning. After a power
 * loss the last few exports may not come back by themselves; no disk content depends on it.
 */
import { readFile } from 'node:fs/promises';
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

const FILE = 'live.json';

export class LiveState {
  private readonly specs = new Map<string, Map<string, ExportSpec>>();
  private readonly writing = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();

  constructor(private readonly roots: ReadonlyMap<string, string>) {}

  async load(): Promise<ExportSpec[]> {
    for (const [datastoreId, root] of this.roots) {
      let exports: ExportSpec[] = [];
      try {
        exports = (
          JSON.parse(await readFile(join(root, METADATA_DIR, FILE), 'utf8')) as {
            exports: ExportSpec[];
          }
        ).exports;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
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
        const path = join(this.roots.get(datastoreId)!, METADATA_DIR, FILE);
        await writeFileAtomic(path, JSON.stringify({ exports }), { durable: false }).catch(
          () => undefined,
        );
      }
      this.writing.delete(datastoreId);
    })();
    this.writing.set(datastoreId, write);
  }
}
