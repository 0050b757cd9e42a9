/**
 * A new disk on a new image (created, imported, copied, or an overlay): the plan every operation
 * that writes one new image and a disk on it shares.
 */
import { basename } from 'node:path';
import { type CreateDiskDecision, decideCreateDisk } from '../../model/decide';
import { type DiskEngineEvent, type LayerCreated } from '../../model/events';
import { type Layer, type LayerGraph } from '../../model/layer-graph';
import { assertRoomFor } from '../../model/space';
import { type CreateDisk, type DiskResult } from '../../port';
import * as qemuImg from '../../qemu/qemu-img';
import { publish } from '../../store/fs-atomic';
import { type EngineContext } from '../engine-context';
import { diskKey, layerKey } from '../locks';
import { type PlannedOperation } from '../operation-runner';

/** What the model needs to decide a new standalone disk, from a create or an import. */
export function standaloneDecision(
  command: Pick<CreateDisk, 'datastoreId' | 'diskId' | 'kind' | 'format'>,
  capacityBytes: number,
  clusterSizeBytes: number,
): CreateDiskDecision {
  const { datastoreId, diskId, format } = command;
  return {
    datastoreId,
    diskId,
    kind: command.kind ?? 'disk',
    format,
    capacityBytes,
    clusterSizeBytes,
  };
}

/**
 * A new standalone disk (created or imported): decided, checked against the room the datastore
 * has for what `qemu-img measure` says it needs, and written by `write` under a temporary name.
 */
export function standaloneDiskPlan(
  ctx: EngineContext,
  graph: LayerGraph,
  operationId: string,
  decision: CreateDiskDecision,
  measured: qemuImg.Measurement | undefined,
  space: () => { datastoreId: string; freeBytes: number },
  write: (temporary: string, layer: Layer) => Promise<void>,
): PlannedOperation<DiskResult> {
  const events = decideCreateDisk(graph, decision, ctx.decisionContext());
  const layer = (events[0] as LayerCreated).data;
  const measuredBytes =
    decision.format === 'thin' ? measured?.requiredBytes : measured?.fullyAllocatedBytes;
  const requiredBytes = measuredBytes ?? 0;
  assertRoomFor(space(), requiredBytes);
  const temporary = ctx.temporaryPath(layer.datastoreId, layer.fileName, operationId);
  return newDiskPlan(ctx, operationId, events, layer, temporary, requiredBytes, () =>
    write(temporary, layer),
  );
}

/** A plan for any operation that writes one new standalone or overlay image and a disk on it. */
export function newDiskPlan(
  ctx: EngineContext,
  operationId: string,
  events: DiskEngineEvent[],
  layer: Layer,
  temporary: string,
  reserveBytes: number,
  write: () => Promise<void>,
  extra: { shared?: string[]; policyEvents?: DiskEngineEvent[] } = {},
): PlannedOperation<DiskResult> {
  const disk = events.find((e) => e.type === 'DiskCreated');
  const diskId = disk?.type === 'DiskCreated' ? disk.data.diskId : '';
  const final = ctx.pathOf(layer);
  return {
    datastoreId: layer.datastoreId,
    events,
    intent: {
      temporaryFiles: [basename(temporary)],
      publishedFiles: [layer.fileName],
      removedFiles: [],
    },
    locks: { exclusive: [diskKey(diskId), layerKey(layer.layerId)], shared: extra.shared ?? [] },
    reserveBytes,
    result: {
      operationId,
      events: [...(extra.policyEvents ?? []), ...events],
      diskId,
      datastoreId: layer.datastoreId,
      layerId: layer.layerId,
      capacityBytes: layer.capacityBytes,
      allocatedBytes: 0,
    },
    stage: write,
    execute: async () => {
      await publish(temporary, final);
      ctx.space.stale(layer.datastoreId);
    },
    finish: async (result) => ({
      ...result,
      allocatedBytes: await qemuImg.allocatedBytes(final),
    }),
  };
}
