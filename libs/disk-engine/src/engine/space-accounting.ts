/**
 * Space accounting of the datastores: what each layer takes on the file system (measured with
 * qemu-img, cached briefly), what the file system has free, and what operations under way hold
 * reserved. The rules themselves (provisioned, used, shared, own, free) are the pure model's
 * (model/space.ts); this measures what they need.
 */
import { statfs } from 'node:fs/promises';
import { type Layer, layersOfDatastore } from '../model/layer-graph';
import { type DatastoreSpace, datastoreSpace, freeBytes } from '../model/space';
import * as qemuImg from '../qemu/qemu-img';
import { type OperationRunner } from './operation-runner';

/** Allocated bytes per layer of a datastore, as last measured. */
interface Usage {
  at: number;
  allocated: Record<string, number>;
  usedBytes: number;
  refreshing?: Promise<unknown>;
}

/** How long a datastore's measured usage may be reused for small allocations (overlays). */
const USAGE_MAX_AGE_MS = 1000;
/** What an empty overlay costs at most: one qcow2 header, L1 and refcount tables. */
export const OVERLAY_BYTES = 1024 * 1024;

/** What `assertRoomFor` checks against: the free bytes of a datastore at the time of deciding. */
export type SpaceProbe = () => { datastoreId: string; freeBytes: number };

export class SpaceAccounting {
  private readonly usage = new Map<string, Usage>();

  constructor(
    private readonly runner: OperationRunner,
    private readonly paths: { rootOf(datastoreId: string): string; pathOf(layer: Layer): string },
  ) {}

  /** Allocated bytes per layer of a datastore, measured at most USAGE_MAX_AGE_MS ago unless `fresh`. */
  private async measureUsage(datastoreId: string, fresh: boolean): Promise<Usage> {
    const cached = this.usage.get(datastoreId);
    if (!fresh && cached) {
      // Small allocations (overlays) plan against the last measure and refresh it on the side:
      // measuring stats every layer, which must not be paid on every linked clone.
      if (Date.now() - cached.at > USAGE_MAX_AGE_MS && !cached.refreshing) {
        cached.refreshing = this.statLayers(datastoreId).finally(
          () => (cached.refreshing = undefined),
        );
      }
      return cached;
    }
    return this.statLayers(datastoreId);
  }

  private async statLayers(datastoreId: string): Promise<Usage> {
    const allocated: Record<string, number> = {};
    let usedBytes = 0;
    for (const layer of layersOfDatastore(this.runner.graph, datastoreId)) {
      allocated[layer.layerId] = await qemuImg
        .allocatedBytes(this.paths.pathOf(layer))
        .catch(() => 0);
      usedBytes += allocated[layer.layerId];
    }
    const usage: Usage = { at: Date.now(), allocated, usedBytes };
    this.usage.set(datastoreId, usage);
    return usage;
  }

  /** The next measure of this datastore must look again (files were added or grew). */
  stale(datastoreId: string): void {
    const cached = this.usage.get(datastoreId);
    if (cached) cached.at = 0;
  }

  private async fileSystemFreeBytes(
    datastoreId: string,
  ): Promise<{ totalBytes: number; freeBytes: number }> {
    const s = await statfs(this.paths.rootOf(datastoreId));
    return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  }

  /** Provisioned, used, shared, own, reserved and free bytes of a datastore and its disks, measured now. */
  async full(datastoreId: string): Promise<DatastoreSpace> {
    const ds = this.runner.datastore(datastoreId);
    const { allocated } = await this.measureUsage(datastoreId, true);
    const fs = await this.fileSystemFreeBytes(datastoreId);
    return datastoreSpace(
      this.runner.graph,
      {
        datastoreId,
        capacityBytes: ds.capacityBytes ?? fs.totalBytes,
        fileSystemFreeBytes: fs.freeBytes,
      },
      allocated,
      this.runner.reservedBytes(datastoreId),
    );
  }

  /**
   * Measures what `assertRoomFor` needs (fresh, or the last measure for small allocations); the
   * check itself runs when deciding, against the reservations of that moment.
   */
  async probe(
    datastoreId: string,
    fresh: boolean,
    /**
     * Bytes of files the caller is growing that are both reserved and already written: the file
     * system's free bytes no longer hold them, so they are given back there to count once only.
     */
    writtenReservedBytes = 0,
  ): Promise<SpaceProbe> {
    const ds = this.runner.datastore(datastoreId);
    const { usedBytes } = await this.measureUsage(datastoreId, fresh);
    const fs = await this.fileSystemFreeBytes(datastoreId);
    return () => ({
      datastoreId,
      freeBytes: freeBytes({
        capacityBytes: ds.capacityBytes ?? fs.totalBytes,
        usedBytes,
        reservedBytes: this.runner.reservedBytes(datastoreId),
        fileSystemFreeBytes: fs.freeBytes + writtenReservedBytes,
      }),
    });
  }
}
