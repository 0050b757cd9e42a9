/**
 * One pure decision per command: given the layer graph and a command, the events that would
 * make it true, or a refusal with a stable code. The driver does the physical work the events
 * describe, then commits them; nothing here reads a clock, makes an id or touches a file.
 */
import { DiskEngineError } from '../errors';
import {
  type DiskCreated,
  type DiskEngineEvent,
  type LayerCreated,
  type LayerFrozen,
  type LayerReclaimed,
  evolveAll,
} from './events';
import {
  type Disk,
  type ImageKind,
  type Layer,
  type LayerGraph,
  type ProvisioningFormat,
  PROVISIONING_FORMATS,
  chainOf,
  dependantsOf,
  disksOnTop,
  getDisk,
  getLayer,
  isExclusiveBackingOf,
  referenceCounts,
} from './layer-graph';
import { assertValidId, layerFileName } from './names';

/** What a decision needs from outside: the instant, and fresh layer ids in the order it asks. */
export interface DecisionContext {
  now: string;
  nextLayerId(): string;
}

/** A layer named directly, or the top layer of a disk. */
export type LayerRef = { diskId: string } | { layerId: string };

export const SECTOR_BYTES = 512;
export const DEFAULT_CLUSTER_SIZE_BYTES = 65536;

export function resolveLayer(graph: LayerGraph, ref: LayerRef): Layer {
  return 'diskId' in ref
    ? getLayer(graph, getDisk(graph, ref.diskId).topLayerId)
    : getLayer(graph, ref.layerId);
}

function assertUsable(layer: Layer): void {
  if (layer.quarantined) {
    throw new DiskEngineError('DISK.QUARANTINED', `layer ${layer.layerId} is quarantined`, {
      layerId: layer.layerId,
    });
  }
}

function assertWritable(layer: Layer): void {
  assertUsable(layer);
  if (layer.frozen) {
    throw new DiskEngineError('DISK.LAYER_FROZEN', `layer ${layer.layerId} is frozen`, {
      layerId: layer.layerId,
    });
  }
}

function assertNewDisk(graph: LayerGraph, diskId: string): void {
  assertValidId('disk', diskId);
  if (graph.disks[diskId]) {
    throw new DiskEngineError('DISK.ALREADY_EXISTS', `disk ${diskId} exists`, { diskId });
  }
}

function assertCapacity(capacityBytes: number, clusterSizeBytes: number): void {
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0 || capacityBytes % SECTOR_BYTES) {
    throw new DiskEngineError(
      'DISK.BAD_REQUEST',
      `capacity must be a positive multiple of ${SECTOR_BYTES} bytes`,
      { capacityBytes },
    );
  }
  const powerOfTwo = (clusterSizeBytes & (clusterSizeBytes - 1)) === 0;
  if (!powerOfTwo || clusterSizeBytes < 512 || clusterSizeBytes > 2 * 1024 * 1024) {
    throw new DiskEngineError(
      'DISK.BAD_REQUEST',
      'cluster size must be a power of two, 512 B..2 MiB',
      {
        clusterSizeBytes,
      },
    );
  }
}

function assertFormat(format: string): asserts format is ProvisioningFormat {
  if (!(PROVISIONING_FORMATS as readonly string[]).includes(format)) {
    throw new DiskEngineError('DISK.BAD_REQUEST', `unknown provisioning format ${format}`, {
      format,
    });
  }
}

function newLayer(
  ctx: DecisionContext,
  fields: Omit<Layer, 'layerId' | 'fileName' | 'frozen' | 'quarantined' | 'createdAt'>,
): LayerCreated {
  const layerId = ctx.nextLayerId();
  assertValidId('layer', layerId);
  const data: Layer = {
    layerId,
    fileName: layerFileName(layerId),
    frozen: false,
    quarantined: false,
    createdAt: ctx.now,
    ...fields,
  };
  return { type: 'LayerCreated', data };
}

function newDisk(
  ctx: DecisionContext,
  diskId: string,
  top: Layer,
  format: ProvisioningFormat,
): DiskCreated {
  const data: Disk = {
    diskId,
    datastoreId: top.datastoreId,
    kind: top.kind,
    format,
    capacityBytes: top.capacityBytes,
    topLayerId: top.layerId,
    createdAt: ctx.now,
  };
  return { type: 'DiskCreated', data };
}

function freezeIfWritable(layer: Layer): LayerFrozen[] {
  return layer.frozen
    ? []
    : [{ type: 'LayerFrozen', data: { datastoreId: layer.datastoreId, layerId: layer.layerId } }];
}

/** Layers nothing references any more, reclaimed from the top down until none is left. */
export function reclaimUnreferenced(graph: LayerGraph, datastoreId: string): LayerReclaimed[] {
  // One pass to count, then a worklist: a reclaimed layer may leave the one below unreferenced.
  const counts = referenceCounts(graph, datastoreId);
  const work = [...counts].filter(([, n]) => n === 0).map(([id]) => id);
  const reclaimed: LayerReclaimed[] = [];
  while (work.length) {
    const layer = graph.layers[work.shift()!];
    reclaimed.push({
      type: 'LayerReclaimed',
      data: { datastoreId, layerId: layer.layerId, fileName: layer.fileName },
    });
    const below = layer.backingLayerId;
    if (below !== null && counts.has(below)) {
      counts.set(below, counts.get(below)! - 1);
      if (counts.get(below) === 0) work.push(below);
    }
  }
  return reclaimed;
}

export interface CreateDiskDecision {
  datastoreId: string;
  diskId: string;
  kind: ImageKind;
  format: ProvisioningFormat;
  capacityBytes: number;
  clusterSizeBytes: number;
}

export function decideCreateDisk(
  graph: LayerGraph,
  command: CreateDiskDecision,
  ctx: DecisionContext,
): DiskEngineEvent[] {
  assertValidId('datastore', command.datastoreId);
  assertNewDisk(graph, command.diskId);
  assertFormat(command.format);
  assertCapacity(command.capacityBytes, command.clusterSizeBytes);
  const layer = newLayer(ctx, {
    datastoreId: command.datastoreId,
    kind: command.kind,
    format: command.format,
    capacityBytes: command.capacityBytes,
    clusterSizeBytes: command.clusterSizeBytes,
    backingLayerId: null,
  });
  return [layer, newDisk(ctx, command.diskId, layer.data, command.format)];
}

/** Freeze the disk's top and give the disk a new, empty delta over it. */
export function decideSnapshot(
  graph: LayerGraph,
  command: { diskId: string },
  ctx: DecisionContext,
): DiskEngineEvent[] {
  const disk = getDisk(graph, command.diskId);
  const top = getLayer(graph, disk.topLayerId);
  assertWritable(top);
  const delta = newLayer(ctx, {
    datastoreId: top.datastoreId,
    kind: top.kind,
    format: 'thin',
    capacityBytes: top.capacityBytes,
    clusterSizeBytes: top.clusterSizeBytes,
    backingLayerId: top.layerId,
  });
  return [
    ...freezeIfWritable(top),
    delta,
    {
      type: 'DiskTopMoved',
      data: {
        datastoreId: disk.datastoreId,
        diskId: disk.diskId,
        topLayerId: delta.data.layerId,
        previousTopLayerId: top.layerId,
      },
    },
  ];
}

/** Convert to template: the top is frozen in place, nothing is copied, no delta is added. */
export function decideFreeze(graph: LayerGraph, command: { diskId: string }): DiskEngineEvent[] {
  const top = getLayer(graph, getDisk(graph, command.diskId).topLayerId);
  assertUsable(top);
  return freezeIfWritable(top);
}

/** A new disk whose only layer is an empty overlay over a frozen layer: no data copied. */
export function decideLinkedClone(
  graph: LayerGraph,
  command: { source: LayerRef; diskId: string; datastoreId?: string },
  ctx: DecisionContext,
): DiskEngineEvent[] {
  const source = resolveLayer(graph, command.source);
  assertUsable(source);
  assertNewDisk(graph, command.diskId);
  if (!source.frozen) {
    throw new DiskEngineError('DISK.NOT_FROZEN', `layer ${source.layerId} is not frozen`, {
      layerId: source.layerId,
    });
  }
  if (command.datastoreId !== undefined && command.datastoreId !== source.datastoreId) {
    throw new DiskEngineError(
      'DISK.BACKING_OUTSIDE_DATASTORE',
      'a linked clone stands on its base, so it lives on the base datastore',
      { datastoreId: command.datastoreId, sourceDatastoreId: source.datastoreId },
    );
  }
  const overlay = newLayer(ctx, {
    datastoreId: source.datastoreId,
    kind: source.kind,
    format: 'thin',
    capacityBytes: source.capacityBytes,
    clusterSizeBytes: source.clusterSizeBytes,
    backingLayerId: source.layerId,
  });
  return [overlay, newDisk(ctx, command.diskId, overlay.data, 'thin')];
}

/** The format "same as source" means: the format the source disk was made in. */
export function sourceFormat(graph: LayerGraph, ref: LayerRef): ProvisioningFormat {
  if ('diskId' in ref) return getDisk(graph, ref.diskId).format;
  return chainOf(graph, ref.layerId).at(-1)?.format ?? 'thin';
}

/** A new, independent disk holding what the source chain reads, in the chosen format. */
export function decideFullClone(
  graph: LayerGraph,
  command: {
    source: LayerRef;
    diskId: string;
    datastoreId: string;
    format: ProvisioningFormat | 'same';
  },
  ctx: DecisionContext,
): DiskEngineEvent[] {
  const source = resolveLayer(graph, command.source);
  chainOf(graph, source.layerId).forEach(assertUsable);
  assertValidId('datastore', command.datastoreId);
  assertNewDisk(graph, command.diskId);
  const format = command.format === 'same' ? sourceFormat(graph, command.source) : command.format;
  assertFormat(format);
  const base = newLayer(ctx, {
    datastoreId: command.datastoreId,
    kind: source.kind,
    format,
    capacityBytes: source.capacityBytes,
    clusterSizeBytes: source.clusterSizeBytes,
    backingLayerId: null,
  });
  return [base, newDisk(ctx, command.diskId, base.data, format)];
}

/**
 * Merge the layer below into this one's place. Refused when the layer below has any other user:
 * merging would change what they read.
 */
export function decideConsolidate(
  graph: LayerGraph,
  command: { target: LayerRef },
): DiskEngineEvent[] {
  const layer = resolveLayer(graph, command.target);
  assertUsable(layer);
  if (layer.backingLayerId === null) {
    throw new DiskEngineError('DISK.NO_BACKING', `layer ${layer.layerId} stands on nothing`, {
      layerId: layer.layerId,
    });
  }
  const below = getLayer(graph, layer.backingLayerId);
  assertUsable(below);
  if (!isExclusiveBackingOf(graph, below.layerId, layer.layerId)) {
    throw new DiskEngineError('DISK.LAYER_SHARED', `layer ${below.layerId} has other users`, {
      layerId: below.layerId,
      dependants: dependantsOf(graph, below.layerId).map((l) => l.layerId),
      disks: disksOnTop(graph, below.layerId).map((d) => d.diskId),
    });
  }
  return [
    {
      type: 'LayerMerged',
      data: {
        datastoreId: layer.datastoreId,
        layerId: layer.layerId,
        mergedLayerId: below.layerId,
        backingLayerId: below.backingLayerId,
        format: below.format,
      },
    },
  ];
}

/**
 * Copy into `layer` every cluster it still reads from `release` (and anything between), so that
 * it stands on what `release` stood on; `release` goes when nothing else uses it.
 * `release` null: flatten, the layer reads from nothing below any more.
 */
export function decideMaterialise(
  graph: LayerGraph,
  command: { target: LayerRef; releaseLayerId: string | null },
): DiskEngineEvent[] {
  const layer = resolveLayer(graph, command.target);
  const chain = chainOf(graph, layer.layerId);
  chain.forEach(assertUsable);
  let newBacking: string | null = null;
  if (command.releaseLayerId !== null) {
    const release = chain.slice(1).find((l) => l.layerId === command.releaseLayerId);
    if (!release) {
      throw new DiskEngineError(
        'DISK.NOT_IN_CHAIN',
        `layer ${command.releaseLayerId} is not below ${layer.layerId}`,
        { layerId: layer.layerId, releaseLayerId: command.releaseLayerId },
      );
    }
    newBacking = release.backingLayerId;
  }
  if (layer.backingLayerId === newBacking) return [];
  const rebased: DiskEngineEvent[] = [
    {
      type: 'LayerRebased',
      data: {
        datastoreId: layer.datastoreId,
        layerId: layer.layerId,
        backingLayerId: newBacking,
        previousBackingLayerId: layer.backingLayerId,
      },
    },
  ];
  return [...rebased, ...reclaimUnreferenced(evolveAll(graph, rebased), layer.datastoreId)];
}

/**
 * Revert a disk to a frozen layer of its own chain (a snapshot): the disk gets a new, empty delta
 * over that layer, and what it wrote since goes, save layers others still stand on.
 */
export function decideRevert(
  graph: LayerGraph,
  command: { diskId: string; layerId: string },
  ctx: DecisionContext,
): DiskEngineEvent[] {
  const disk = getDisk(graph, command.diskId);
  const target = getLayer(graph, command.layerId);
  if (!chainOf(graph, disk.topLayerId).some((layer) => layer.layerId === target.layerId)) {
    throw new DiskEngineError(
      'DISK.BAD_REQUEST',
      `layer ${target.layerId} is not in disk ${disk.diskId}'s chain`,
      {
        diskId: disk.diskId,
        layerId: target.layerId,
      },
    );
  }
  if (!target.frozen) {
    throw new DiskEngineError('DISK.NOT_FROZEN', `layer ${target.layerId} is not frozen`, {
      layerId: target.layerId,
    });
  }
  const delta = newLayer(ctx, {
    datastoreId: target.datastoreId,
    kind: target.kind,
    format: 'thin',
    capacityBytes: target.capacityBytes,
    clusterSizeBytes: target.clusterSizeBytes,
    backingLayerId: target.layerId,
  });
  const moved: DiskEngineEvent[] = [
    delta,
    {
      type: 'DiskTopMoved',
      data: {
        datastoreId: disk.datastoreId,
        diskId: disk.diskId,
        topLayerId: delta.data.layerId,
        previousTopLayerId: disk.topLayerId,
      },
    },
  ];
  return [...moved, ...reclaimUnreferenced(evolveAll(graph, moved), disk.datastoreId)];
}

/** Drop the handle; every layer nothing else stands on goes with it. */
export function decideDeleteDisk(
  graph: LayerGraph,
  command: { diskId: string },
): DiskEngineEvent[] {
  const disk = getDisk(graph, command.diskId);
  const deleted: DiskEngineEvent[] = [
    { type: 'DiskDeleted', data: { datastoreId: disk.datastoreId, diskId: disk.diskId } },
  ];
  return [...deleted, ...reclaimUnreferenced(evolveAll(graph, deleted), disk.datastoreId)];
}

/**
 * Fork a running VM: each source (a disk or a memory image) has its top frozen in place (the
 * parent stops writing there) and the fork gets a copy-on-write overlay of it.
 */
export function decideFork(
  graph: LayerGraph,
  command: { sources: Array<{ diskId: string; newDiskId: string }> },
  ctx: DecisionContext,
): DiskEngineEvent[] {
  const newIds = command.sources.map((s) => s.newDiskId);
  if (new Set(newIds).size !== newIds.length) {
    throw new DiskEngineError('DISK.ALREADY_EXISTS', 'a fork names the same new disk twice', {
      newDiskIds: newIds,
    });
  }
  const events: DiskEngineEvent[] = [];
  for (const source of command.sources) {
    const top = getLayer(graph, getDisk(graph, source.diskId).topLayerId);
    assertUsable(top);
    events.push(...freezeIfWritable(top));
    const frozen = evolveAll(graph, events);
    events.push(
      ...decideLinkedClone(
        frozen,
        { source: { layerId: top.layerId }, diskId: source.newDiskId },
        ctx,
      ),
    );
  }
  return events;
}
