/**
 * The disk engine's own record of its layer graph: plain JSON events, each a change of the
 * graph. They are private to the engine: the operation log of each datastore keeps them (its
 * crash-recovery log), so the graph of a datastore is the fold of its committed events
 * (`evolve`). Operation results carry them too, for the caller to look at (the worker reads
 * them, e.g. whether a fork froze its parent), but they are not published: no topic, no schema
 * in libs/contracts, no consumer outside the engine may rely on them. What other services learn
 * of disks comes from the domain's events, which the worker's outcomes produce.
 *
 * Every id is a string, every size is in bytes (named `...Bytes`), every instant an ISO-8601
 * string. Since: schema version 1.
 */
import { DiskEngineError } from '../errors';
import { type Disk, type Layer, type LayerGraph, type ProvisioningFormat } from './layer-graph';

type Event<Type extends string, Data> = { type: Type; data: Data };

/** A qcow2 image was published on a datastore under `data.fileName`. */
export type LayerCreated = Event<'LayerCreated', Layer>;

/** A disk handle now exists, standing on `topLayerId`. */
export type DiskCreated = Event<'DiskCreated', Disk>;

/** The layer became read-only forever (snapshot, template, fork parent). */
export type LayerFrozen = Event<'LayerFrozen', { datastoreId: string; layerId: string }>;

/** The disk's writes now go to `topLayerId` (a snapshot started a new delta). */
export type DiskTopMoved = Event<
  'DiskTopMoved',
  { datastoreId: string; diskId: string; topLayerId: string; previousTopLayerId: string }
>;

/**
 * Consolidation: `mergedLayerId` (the layer below) took in every cluster of `layerId`, and the
 * merged image now stands under the name of `layerId`, on `backingLayerId`. Whatever stood on
 * `layerId` still does, and reads the same bytes. `mergedLayerId` is gone.
 */
export type LayerMerged = Event<
  'LayerMerged',
  {
    datastoreId: string;
    layerId: string;
    mergedLayerId: string;
    backingLayerId: string | null;
    /** The merged image's provisioning: that of the layer below, whose file survives. */
    format: ProvisioningFormat;
  }
>;

/**
 * Materialisation: the layer now holds every cluster it used to read from the layers between it
 * and `backingLayerId` (null: from its whole chain), and stands on `backingLayerId`.
 */
export type LayerRebased = Event<
  'LayerRebased',
  {
    datastoreId: string;
    layerId: string;
    backingLayerId: string | null;
    previousBackingLayerId: string | null;
  }
>;

/** The disk handle is gone; its layers stay while others stand on them. */
export type DiskDeleted = Event<'DiskDeleted', { datastoreId: string; diskId: string }>;

/** Nothing referenced the layer any more: its file was removed. */
export type LayerReclaimed = Event<
  'LayerReclaimed',
  { datastoreId: string; layerId: string; fileName: string }
>;

/** Check could not repair the layer; it refuses every use until an operator looks. */
export type LayerQuarantined = Event<
  'LayerQuarantined',
  { datastoreId: string; layerId: string; reason: string }
>;

/** An operator restored a quarantined layer, after it was checked again and found sound. */
export type LayerRestored = Event<'LayerRestored', { datastoreId: string; layerId: string }>;

/**
 * The chain-depth policy acted by itself: a chain would have passed `maxChainDepth`, so the
 * engine merged (`consolidated`) or copied down (`flattened`) layers. Informational.
 */
export type ChainDepthPolicyApplied = Event<
  'ChainDepthPolicyApplied',
  {
    datastoreId: string;
    layerId: string;
    action: 'consolidated' | 'flattened';
    depthBefore: number;
    depthAfter: number;
    maxChainDepth: number;
  }
>;

export type DiskEngineEvent =
  | LayerCreated
  | DiskCreated
  | LayerFrozen
  | DiskTopMoved
  | LayerMerged
  | LayerRebased
  | DiskDeleted
  | LayerReclaimed
  | LayerQuarantined
  | LayerRestored
  | ChainDepthPolicyApplied;

interface Draft {
  layers: Record<string, Layer>;
  disks: Record<string, Disk>;
}

function changeLayer(draft: Draft, layerId: string, change: Partial<Layer>): void {
  const layer = draft.layers[layerId];
  if (!layer) throw new DiskEngineError('DISK.NOT_FOUND', `no layer ${layerId}`, { layerId });
  draft.layers[layerId] = { ...layer, ...change };
}

/** Applies one event to a private copy (see evolveAll); layers and disks themselves are never changed. */
function apply(draft: Draft, event: DiskEngineEvent): void {
  switch (event.type) {
    case 'LayerCreated':
      draft.layers[event.data.layerId] = event.data;
      return;
    case 'DiskCreated':
      draft.disks[event.data.diskId] = event.data;
      return;
    case 'LayerFrozen':
      return changeLayer(draft, event.data.layerId, { frozen: true });
    case 'DiskTopMoved': {
      const disk = draft.disks[event.data.diskId];
      if (disk) draft.disks[disk.diskId] = { ...disk, topLayerId: event.data.topLayerId };
      return;
    }
    case 'LayerMerged': {
      const { layerId, mergedLayerId, backingLayerId, format } = event.data;
      changeLayer(draft, layerId, { backingLayerId, format });
      delete draft.layers[mergedLayerId];
      return;
    }
    case 'LayerRebased':
      return changeLayer(draft, event.data.layerId, { backingLayerId: event.data.backingLayerId });
    case 'DiskDeleted':
      delete draft.disks[event.data.diskId];
      return;
    case 'LayerReclaimed':
      delete draft.layers[event.data.layerId];
      return;
    case 'LayerQuarantined':
      return changeLayer(draft, event.data.layerId, { quarantined: true });
    case 'LayerRestored':
      return changeLayer(draft, event.data.layerId, { quarantined: false });
    case 'ChainDepthPolicyApplied':
      return;
    default: {
      const unknown: never = event;
      throw new Error(`unknown event ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * The graph after the events. Pure: the given graph is left as it was. The records are copied
 * once per call, not once per event: an operation's events cost one copy of the graph.
 */
export function evolveAll(graph: LayerGraph, events: readonly DiskEngineEvent[]): LayerGraph {
  if (events.length === 0) return graph;
  const draft: Draft = { layers: { ...graph.layers }, disks: { ...graph.disks } };
  for (const event of events) apply(draft, event);
  return draft;
}

export function evolve(graph: LayerGraph, event: DiskEngineEvent): LayerGraph {
  return evolveAll(graph, [event]);
}
