/**
 * snapshot: the top is frozen and a new empty delta stands over it; a live disk keeps running.
 */
import { basename } from 'node:path';
import { decideSnapshot } from '../../model/decide';
import { type LayerCreated } from '../../model/events';
import { chainDepth, getDisk, getLayer } from '../../model/layer-graph';
import { type OperationOptions, type SnapshotDisk, type SnapshotResult } from '../../port';
import { publish } from '../../store/fs-atomic';
import { type EngineContext } from '../engine-context';
import { diskKey, layerKey } from '../locks';
import { OVERLAY_BYTES } from '../space-accounting';
import { applyDepthPolicy } from './chain-depth-policy';
import { materialiseWith } from './materialise';

export async function snapshot(
  ctx: EngineContext,
  command: SnapshotDisk,
  options?: OperationOptions,
): Promise<SnapshotResult> {
  const { operationId } = command;
  return ctx.runner.run(
    'snapshot',
    command,
    async () => {
      const top = getLayer(ctx.runner.graph, getDisk(ctx.runner.graph, command.diskId).topLayerId);
      const policy = await applyDepthPolicy(
        ctx,
        operationId,
        top.layerId,
        ctx.maxChainDepth - 1,
        options,
      );
      if (!policy.exhausted) return policy;
      // Every layer below is shared: the top takes in its whole chain and stands alone.
      const flattened = await materialiseWith(
        ctx,
        {
          operationId: `${operationId}.flatten`,
          target: { layerId: top.layerId },
          releaseLayerId: null,
        },
        options,
        { depthBefore: chainDepth(ctx.runner.graph, top.layerId) + 1 },
      );
      return { events: [...policy.events, ...flattened.events], exhausted: false };
    },
    (graph, policy) => {
      const events = decideSnapshot(graph, { diskId: command.diskId }, ctx.decisionContext());
      const moved = events.find((e) => e.type === 'DiskTopMoved');
      if (moved?.type !== 'DiskTopMoved') throw new Error('snapshot decided no new top');
      const top = getLayer(graph, moved.data.previousTopLayerId);
      const delta = (events.find((e) => e.type === 'LayerCreated') as LayerCreated).data;
      const live = ctx.live.isOpenWritable(top.layerId);
      const temporary = ctx.temporaryPath(top.datastoreId, delta.fileName, operationId);
      return {
        datastoreId: top.datastoreId,
        events,
        intent: {
          temporaryFiles: [basename(temporary)],
          publishedFiles: [delta.fileName],
          removedFiles: [],
          // Once the delta is in place, writes may land in it: a crash then rolls forward.
          completedWhen: { fileName: delta.fileName, backingFileName: top.fileName },
        },
        locks: {
          exclusive: [diskKey(command.diskId), layerKey(top.layerId), layerKey(delta.layerId)],
          shared: [],
        },
        reserveBytes: OVERLAY_BYTES,
        result: {
          operationId,
          events: [...policy.events, ...events],
          diskId: command.diskId,
          frozenLayerId: top.layerId,
          topLayerId: delta.layerId,
          live,
        },
        execute: async () => {
          await ctx.overlays.write(ctx.rootOf(top.datastoreId), top, temporary);
          await publish(temporary, ctx.pathOf(delta));
          if (live) {
            ctx.exports.assertDaemon();
            await ctx.exports.flushLive(top.layerId);
            await ctx.live.snapshot(top.layerId, ctx.exports.liveLayer(delta));
          }
        },
      };
    },
  );
}
