/**
 * The layer graph: which layer stands on which, which are frozen, and which disks (named handles
 * that callers hold) stand on top of them. Pure data and pure functions: no clock, no ids, no I/O.
 * QEMU knows the same chains by their backing-file strings; Dolly adds the disk handles, the
 * frozen flags and the reference counts that decide when a layer may go.
 */
import { DiskEngineError } from '../errors';

/** What a layer holds: a virtual disk's blocks, or a running VM's memory image. */
export type ImageKind = 'disk' | 'memory';

/**
 * How a layer's clusters were provisioned when it was made (qcow2 `preallocation`):
 * `thin` = off (space on first write), `thick-lazy-zeroed` = falloc (space reserved, no data
 * written), `thick-eager-zeroed` = full (every byte written with zeros at creation).
 * Deltas standing on another layer are always thin.
 */
export type ProvisioningFormat = 'thin' | 'thick-lazy-zeroed' | 'thick-eager-zeroed';

export const PROVISIONING_FORMATS: readonly ProvisioningFormat[] = [
  'thin',
  'thick-lazy-zeroed',
  'thick-eager-zeroed',
];

/** One qcow2 image file on a datastore. */
export interface Layer {
  layerId: string;
  datastoreId: string;
  /** File name inside the datastore folder (never a path); backing strings use the same names. */
  fileName: string;
  kind: ImageKind;
  format: ProvisioningFormat;
  /** Virtual size as guests see it, in bytes. */
  capacityBytes: number;
  clusterSizeBytes: number;
  /** The layer this one reads through to for clusters it does not hold; null for a base. */
  backingLayerId: string | null;
  /** Frozen layers are read-only forever: snapshots, templates, fork parents' memory. */
  frozen: boolean;
  /** Set by check when the image is broken beyond repair; such a layer refuses every use. */
  quarantined: boolean;
  /** ISO-8601. */
  createdAt: string;
}

/** A named handle on a top layer: what a VM (or template) calls "its disk" or "its memory". */
export interface Disk {
  diskId: string;
  datastoreId: string;
  kind: ImageKind;
  /** The format the disk was made in; "same as source" full clones reuse it. */
  format: ProvisioningFormat;
  capacityBytes: number;
  topLayerId: string;
  createdAt: string;
}

export interface LayerGraph {
  readonly layers: Readonly<Record<string, Layer>>;
  readonly disks: Readonly<Record<string, Disk>>;
}

export const emptyGraph: LayerGraph = { layers: {}, disks: {} };

export function getLayer(graph: LayerGraph, layerId: string): Layer {
  const layer = graph.layers[layerId];
  if (!layer) throw new DiskEngineError('DISK.NOT_FOUND', `no layer ${layerId}`, { layerId });
  return layer;
}

export function getDisk(graph: LayerGraph, diskId: string): Disk {
  const disk = graph.disks[diskId];
  if (!disk) throw new DiskEngineError('DISK.NOT_FOUND', `no disk ${diskId}`, { diskId });
  return disk;
}

/** The chain a read walks, top first: the layer itself, then each backing layer down to the base. */
export function chainOf(graph: LayerGraph, layerId: string): Layer[] {
  const chain: Layer[] = [];
  let current: string | null = layerId;
  while (current !== null) {
    const layer = getLayer(graph, current);
    chain.push(layer);
    current = layer.backingLayerId;
  }
  return chain;
}

/** Number of layers a read may walk through: 1 for a base. */
export function chainDepth(graph: LayerGraph, layerId: string): number {
  return chainOf(graph, layerId).length;
}

/** Layers standing directly on this one. */
export function dependantsOf(graph: LayerGraph, layerId: string): Layer[] {
  return Object.values(graph.layers).filter((l) => l.backingLayerId === layerId);
}

/** Disks whose top is this layer (a template's frozen top, a VM's writable top). */
export function disksOnTop(graph: LayerGraph, layerId: string): Disk[] {
  return Object.values(graph.disks).filter((d) => d.topLayerId === layerId);
}

/** What keeps a layer alive: layers standing on it plus disk handles on it. Zero means reclaimable. */
export function referenceCount(graph: LayerGraph, layerId: string): number {
  return dependantsOf(graph, layerId).length + disksOnTop(graph, layerId).length;
}

/** Reference counts of every layer of a datastore, in one pass over the graph. */
export function referenceCounts(graph: LayerGraph, datastoreId: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const layer of layersOfDatastore(graph, datastoreId))
    counts.set(layer.layerId, counts.get(layer.layerId) ?? 0);
  const count = (layerId: string | null) => {
    if (layerId !== null && counts.has(layerId)) counts.set(layerId, counts.get(layerId)! + 1);
  };
  for (const layer of layersOfDatastore(graph, datastoreId)) count(layer.backingLayerId);
  for (const disk of disksOfDatastore(graph, datastoreId)) count(disk.topLayerId);
  return counts;
}

/** A layer whose only user is the one layer standing on it: it may be merged into that layer. */
export function isExclusiveBackingOf(
  graph: LayerGraph,
  backingId: string,
  layerId: string,
): boolean {
  const dependants = dependantsOf(graph, backingId);
  return (
    dependants.length === 1 &&
    dependants[0].layerId === layerId &&
    disksOnTop(graph, backingId).length === 0
  );
}

export function layersOfDatastore(graph: LayerGraph, datastoreId: string): Layer[] {
  return Object.values(graph.layers).filter((l) => l.datastoreId === datastoreId);
}

export function disksOfDatastore(graph: LayerGraph, datastoreId: string): Disk[] {
  return Object.values(graph.disks).filter((d) => d.datastoreId === datastoreId);
}

/** The part of a graph that one datastore persists; chains never cross datastores. */
export function graphOfDatastore(graph: LayerGraph, datastoreId: string): LayerGraph {
  return {
    layers: Object.fromEntries(layersOfDatastore(graph, datastoreId).map((l) => [l.layerId, l])),
    disks: Object.fromEntries(disksOfDatastore(graph, datastoreId).map((d) => [d.diskId, d])),
  };
}

export function mergeGraphs(graphs: readonly LayerGraph[]): LayerGraph {
  return {
    layers: Object.assign({}, ...graphs.map((g) => g.layers)),
    disks: Object.assign({}, ...graphs.map((g) => g.disks)),
  };
}

/** The graph with one datastore's part replaced (by what its log says after a reload). */
export function replaceDatastoreGraph(
  graph: LayerGraph,
  datastoreId: string,
  part: LayerGraph,
): LayerGraph {
  const others = (d: { datastoreId: string }) => d.datastoreId !== datastoreId;
  return mergeGraphs([
    {
      layers: Object.fromEntries(Object.entries(graph.layers).filter(([, l]) => others(l))),
      disks: Object.fromEntries(Object.entries(graph.disks).filter(([, d]) => others(d))),
    },
    part,
  ]);
}
