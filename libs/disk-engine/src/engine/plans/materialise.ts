/**
 * materialise: a layer takes in what it reads from the layers it is about to leave (null: flatten).
 */
import { DiskEngineError } from '../../errors';
import { decideMaterialise, resolveLayer } from '../../model/decide';
import { type LayerReclaimed } from '../../model/events';
import { getLayer } from '../../model/layer-graph';
import { type Materialise, type OperationOptions, type OperationResult } from '../../port';
import * as qemuImg from '../../qemu/qemu-img';
import { type EngineContext } from '../engine-context';
import { layerKey } from '../locks';
import { ioProgress, progress } from '../progress';
import { removeReclaimed } from '../reclaim';
import { policyEvent } from './chain-depth-policy';

export async function materialise(
  ctx: EngineContext,
  command: Materialise,
  options?: OperationOptions,
): Promise<OperationResult> {
  return materialiseWith(ctx, command, options, undefined);
}

export async function materialiseWith(
  ctx: EngineContext,
  command: Materialise,
  options: OperationOptions | undefined,
  policy: { depthBefore: number } | undefined,
): Promise<OperationResult> {
  const { operationId } = command;
  return ctx.runner.run(
    'materialise',
    command,
    async () => undefined,
    (graph) => {
      const decided = decideMaterialise(graph, command);
      const layer0 = resolveLayer(graph, command.target);
      const events = policy
        ? [
            ...decided,
            policyEvent(
              ctx,
              layer0.datastoreId,
              layer0.layerId,
              'flattened',
              policy.depthBefore,
              1,
            ),
          ]
        : decided;
      const layer = resolveLayer(graph, command.target);
      const rebased = events.find((e) => e.type === 'LayerRebased');
      const reclaimed = events
        .filter((e): e is LayerReclaimed => e.type === 'LayerReclaimed')
        .map((e) => e.data);
      const base = {
        datastoreId: layer.datastoreId,
        events,
        locks: {
          exclusive: [layerKey(layer.layerId), ...reclaimed.map((r) => layerKey(r.layerId))],
          shared: [],
        },
        result: { operationId, events },
      };
      if (rebased?.type !== 'LayerRebased') {
        return { ...base, intent: { temporaryFiles: [], publishedFiles: [], removedFiles: [] } };
      }
      const newBacking = rebased.data.backingLayerId
        ? getLayer(graph, rebased.data.backingLayerId)
        : null;
      const live = ctx.live.isOpenWritable(layer.layerId);
      if (!live && ctx.live.isOpen(layer.layerId)) {
        throw new DiskEngineError(
          'DISK.IN_USE',
          `layer ${layer.layerId} is open read-only in the daemon`,
          {
            layerId: layer.layerId,
          },
        );
      }
      return {
        ...base,
        intent: {
          temporaryFiles: [],
          publishedFiles: [],
          removedFiles: reclaimed.map((r) => r.fileName),
          completedWhen: {
            fileName: layer.fileName,
            backingFileName: newBacking?.fileName ?? null,
          },
        },
        execute: async () => {
          if (live) {
            ctx.exports.assertDaemon();
            await ctx.live.stream(
              layer.layerId,
              newBacking ? { layerId: newBacking.layerId, fileName: newBacking.fileName } : null,
              {
                signal: options?.signal,
                onProgress: progress(options, operationId, 'stream'),
              },
            );
          } else {
            await qemuImg.rebase(ctx.pathOf(layer), newBacking?.fileName ?? null, {
              signal: options?.signal,
              cwd: ctx.rootOf(layer.datastoreId),
              ioProgress: ioProgress(options, operationId, 'rebase', 'rchar', layer.capacityBytes),
            });
          }
          ctx.space.stale(layer.datastoreId);
        },
        afterCommit: () => removeReclaimed(ctx, layer.datastoreId, reclaimed),
      };
    },
  );
}
