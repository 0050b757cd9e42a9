/**
 * fullClone: an independent copy in a chosen format; from a live disk, a point-in-time copy.
 */
import { decideFullClone, resolveLayer } from '../../model/decide';
import { type DiskEngineEvent, type LayerCreated } from '../../model/events';
import { chainOf, type LayerGraph, type ProvisioningFormat } from '../../model/layer-graph';
import { assertRoomFor } from '../../model/space';
import { type DiskResult, type FullClone, type OperationOptions } from '../../port';
import * as qemuImg from '../../qemu/qemu-img';
import { type EngineContext } from '../engine-context';
import { layerKey } from '../locks';
import { type PlannedOperation } from '../operation-runner';
import { ioProgress, progress } from '../progress';
import { newDiskPlan } from './new-disk';

export async function fullClone(
  ctx: EngineContext,
  command: FullClone,
  options?: OperationOptions,
): Promise<DiskResult> {
  return ctx.runner.run(
    'fullClone',
    command,
    () => fullCloneProbe(ctx, command),
    (graph, probe) => fullClonePlan(ctx, graph, command, probe, options, []),
  );
}

export async function fullCloneProbe(
  ctx: EngineContext,
  command: Pick<FullClone, 'source' | 'datastoreId' | 'format'>,
) {
  const graph = ctx.runner.graph;
  const source = resolveLayer(graph, command.source);
  const live = ctx.live.isOpenWritable(source.layerId);
  const format = command.format === 'same' ? undefined : command.format;
  const measured = await qemuImg
    .measure(
      { format: format ?? 'thin', clusterSizeBytes: source.clusterSizeBytes },
      {
        file: ctx.pathOf(source),
        format: 'qcow2',
        forceShare: ctx.live.isOpen(source.layerId),
      },
    )
    .catch((error: unknown) => {
      // Another worker may have removed the source meanwhile: then say so, as deciding would.
      ctx.runner.refreshAll();
      resolveLayer(ctx.runner.graph, command.source);
      throw error;
    });
  const space = await ctx.space.probe(command.datastoreId, true);
  return { live, measured, space };
}

/** What a full copy measured before deciding: whether the source is live, its size, the room. */
export type FullCloneProbe = Awaited<ReturnType<typeof fullCloneProbe>>;

export function fullClonePlan(
  ctx: EngineContext,
  graph: LayerGraph,
  command: Omit<FullClone, 'format'> & { format: ProvisioningFormat | 'same' },
  probe: FullCloneProbe,
  options: OperationOptions | undefined,
  policyEvents: DiskEngineEvent[],
): PlannedOperation<DiskResult> {
  const { operationId } = command;
  const events = decideFullClone(graph, command, ctx.decisionContext());
  const target = (events[0] as LayerCreated).data;
  const source = resolveLayer(graph, command.source);
  const chain = chainOf(graph, source.layerId);
  const dataBytes = probe.measured.requiredBytes;
  const requiredBytes =
    target.format === 'thin' ? dataBytes : Math.max(probe.measured.fullyAllocatedBytes, dataBytes);
  assertRoomFor(probe.space(), requiredBytes);
  const temporary = ctx.temporaryPath(target.datastoreId, target.fileName, operationId);
  const write = async () => {
    if (probe.live) {
      ctx.exports.assertDaemon();
      await ctx.exports.flushLive(source.layerId);
      await ctx.live.backup(
        source.layerId,
        { ...ctx.exports.liveLayer(target, temporary), format: target.format },
        {
          signal: options?.signal,
          onProgress: progress(options, operationId, 'copy'),
        },
      );
    } else {
      await qemuImg.convert({
        source: {
          file: ctx.pathOf(source),
          format: 'qcow2',
          forceShare: ctx.live.isOpen(source.layerId),
        },
        target: {
          file: temporary,
          format: 'qcow2',
          provisioning: target.format,
          clusterSizeBytes: target.clusterSizeBytes,
        },
        signal: options?.signal,
        ioProgress: ioProgress(options, operationId, 'copy', 'rchar', dataBytes),
      });
    }
  };
  return newDiskPlan(ctx, operationId, events, target, temporary, requiredBytes, write, {
    shared: chain.map((l) => layerKey(l.layerId)),
    policyEvents,
  });
}
