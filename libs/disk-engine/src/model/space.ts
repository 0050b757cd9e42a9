/**
 * Space accounting per datastore, like vSphere's "provisioned / used" and `rbd du`:
 * - provisioned: what the disks may grow to (the sum of their capacities);
 * - used: bytes the layer files hold on the file system (allocated blocks, not apparent size);
 * - shared: used bytes in layers that two or more disks read through;
 * - own: used bytes in layers that exactly one disk reads through (used = shared + own).
 * Allocation sizes are measured by the driver and passed in; this module does the arithmetic.
 */
import { DiskEngineError } from '../errors';
import { type LayerGraph, chainOf, disksOfDatastore, layersOfDatastore } from './layer-graph';

export interface DiskSpace {
  diskId: string;
  capacityBytes: number;
  /** Bytes in layers only this disk reads. */
  ownBytes: number;
  /** Bytes in layers this disk shares with at least one other disk. */
  sharedBytes: number;
  chainDepth: number;
}

export interface DatastoreSpace {
  datastoreId: string;
  capacityBytes: number;
  provisionedBytes: number;
  usedBytes: number;
  sharedBytes: number;
  ownBytes: number;
  /** Promised to operations under way (a clone being written), not yet on disk. */
  reservedBytes: number;
  /** capacity - used - reserved, never below zero nor above what the file system has free. */
  freeBytes: number;
  disks: DiskSpace[];
}

/** How many disks read through each layer. */
export function reachCounts(graph: LayerGraph, datastoreId: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const disk of disksOfDatastore(graph, datastoreId)) {
    for (const layer of chainOf(graph, disk.topLayerId)) {
      counts.set(layer.layerId, (counts.get(layer.layerId) ?? 0) + 1);
    }
  }
  return counts;
}

/** What the datastore can still take: the plan's room, and never more than the file system has. */
export function freeBytes(space: {
  capacityBytes: number;
  usedBytes: number;
  reservedBytes: number;
  fileSystemFreeBytes?: number;
}): number {
  const planned = space.capacityBytes - space.usedBytes - space.reservedBytes;
  const actual = (space.fileSystemFreeBytes ?? Infinity) - space.reservedBytes;
  return Math.max(0, Math.min(planned, actual));
}

export function datastoreSpace(
  graph: LayerGraph,
  datastore: { datastoreId: string; capacityBytes: number; fileSystemFreeBytes?: number },
  allocatedBytes: Readonly<Record<string, number>>,
  reservedBytes = 0,
): DatastoreSpace {
  const { datastoreId, capacityBytes, fileSystemFreeBytes } = datastore;
  const reach = reachCounts(graph, datastoreId);
  const sizeOf = (layerId: string) => allocatedBytes[layerId] ?? 0;
  const isShared = (layerId: string) => (reach.get(layerId) ?? 0) >= 2;
  let usedBytes = 0;
  let sharedBytes = 0;
  for (const layer of layersOfDatastore(graph, datastoreId)) {
    usedBytes += sizeOf(layer.layerId);
    if (isShared(layer.layerId)) sharedBytes += sizeOf(layer.layerId);
  }
  const disks = disksOfDatastore(graph, datastoreId).map((disk): DiskSpace => {
    const chain = chainOf(graph, disk.topLayerId);
    const sum = (shared: boolean) =>
      chain
        .filter((l) => isShared(l.layerId) === shared)
        .reduce((total, l) => total + sizeOf(l.layerId), 0);
    return {
      diskId: disk.diskId,
      capacityBytes: disk.capacityBytes,
      ownBytes: sum(false),
      sharedBytes: sum(true),
      chainDepth: chain.length,
    };
  });
  return {
    datastoreId,
    capacityBytes,
    provisionedBytes: disks.reduce((total, d) => total + d.capacityBytes, 0),
    usedBytes,
    sharedBytes,
    ownBytes: usedBytes - sharedBytes,
    reservedBytes,
    freeBytes: freeBytes({ capacityBytes, usedBytes, reservedBytes, fileSystemFreeBytes }),
    disks,
  };
}

/** Refuse, before any byte is written, what the datastore cannot hold. */
export function assertRoomFor(
  space: Pick<DatastoreSpace, 'datastoreId' | 'freeBytes'>,
  requiredBytes: number,
): void {
  if (requiredBytes > space.freeBytes) {
    throw new DiskEngineError(
      'DISK.NO_SPACE',
      `datastore ${space.datastoreId} has ${space.freeBytes} bytes free, ${requiredBytes} needed`,
      { datastoreId: space.datastoreId, requiredBytes, freeBytes: space.freeBytes },
    );
  }
}
