/**
 * Which disks and layers were exported, persisted per datastore (.dolly/live.json, written
 * atomically) so that a restarted worker or daemon brings the same exports back under the same
 * names, and so that start-up check knows which images were open for writing when it died.
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
  /** The layer the export served when recorded (a snapshot may move a disk's export up). */
  layerId: string;
}

const FILE = 'live.json';

export async function readLiveState(root: string): Promise<ExportSpec[]> {
  try {
    return (
      JSON.parse(await readFile(join(root, METADATA_DIR, FILE), 'utf8')) as {
        exports: ExportSpec[];
      }
    ).exports;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export async function writeLiveState(root: string, exports: ExportSpec[]): Promise<void> {
  await writeFileAtomic(join(root, METADATA_DIR, FILE), JSON.stringify({ exports }));
}
