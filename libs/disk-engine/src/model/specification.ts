/**
 * Given/when/then for the layer graph's decisions, in the manner of Emmett's
 * DeciderSpecification: given past events, when a decision runs, then these events (or this
 * refusal). Test-only; the event builders keep specifications short.
 */
import { type DiskErrorCode, isDiskEngineError } from '../errors';
import { type DecisionContext } from './decide';
import { type DiskEngineEvent, evolveAll } from './events';
import { type Disk, type Layer, type LayerGraph, emptyGraph } from './layer-graph';

export const NOW = '2025-01-01T00:00:00.000Z';
export const DS = 'ds1';
export const MIB = 1024 * 1024;

/** Ids L1, L2, ... in the order a decision asks, so expected events can name them. */
export function context(firstId = 1): DecisionContext {
  let next = firstId;
  return { now: NOW, nextLayerId: () => `L${next++}` };
}

export function layer(layerId: string, fields: Partial<Layer> = {}): Layer {
  return {
    layerId,
    datastoreId: DS,
    fileName: `${layerId}.qcow2`,
    kind: 'disk',
    format: 'thin',
    capacityBytes: 64 * MIB,
    clusterSizeBytes: 65536,
    backingLayerId: null,
    frozen: false,
    quarantined: false,
    createdAt: NOW,
    ...fields,
  };
}

export const created = (layerId: string, fields: Partial<Layer> = {}): DiskEngineEvent => ({
  type: 'LayerCreated',
  data: layer(layerId, fields),
});

export const frozenLayer = (layerId: string, fields: Partial<Layer> = {}): DiskEngineEvent[] => [
  created(layerId, fields),
  { type: 'LayerFrozen', data: { datastoreId: fields.datastoreId ?? DS, layerId } },
];

export const deleted = (diskId: string): DiskEngineEvent => ({
  type: 'DiskDeleted',
  data: { datastoreId: DS, diskId },
});

export const reclaimed = (layerId: string): DiskEngineEvent => ({
  type: 'LayerReclaimed',
  data: { datastoreId: DS, layerId, fileName: `${layerId}.qcow2` },
});

export const diskOn = (
  diskId: string,
  topLayerId: string,
  fields: Partial<Disk> = {},
): DiskEngineEvent => ({
  type: 'DiskCreated',
  data: {
    diskId,
    datastoreId: DS,
    kind: 'disk',
    format: 'thin',
    capacityBytes: 64 * MIB,
    topLayerId,
    createdAt: NOW,
    ...fields,
  },
});

export function given(...history: Array<DiskEngineEvent | DiskEngineEvent[]>) {
  const graph = evolveAll(emptyGraph, history.flat());
  return {
    graph,
    when(decision: (graph: LayerGraph) => DiskEngineEvent[]) {
      const outcome = (): { events: DiskEngineEvent[] } | { error: unknown } => {
        try {
          return { events: decision(graph) };
        } catch (error) {
          return { error };
        }
      };
      return {
        then(expected: DiskEngineEvent[]): LayerGraph {
          const result = outcome();
          if ('error' in result) throw result.error;
          expect(result.events).toEqual(expected);
          return evolveAll(graph, result.events);
        },
        thenThrows(code: DiskErrorCode): void {
          const result = outcome();
          if (!('error' in result)) {
            throw new Error(`expected ${code}, got events ${JSON.stringify(result.events)}`);
          }
          if (!isDiskEngineError(result.error, code)) throw result.error;
        },
      };
    },
  };
}
