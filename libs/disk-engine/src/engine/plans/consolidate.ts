/**
 * consolidate: the layer below is merged into this one's place, when nothing else uses it.
 */
import { rename } from 'node:fs/promises';
import { DiskEngineError } from '../../errors';
import { decideConsolidate } from '../../model/decide';
import { type DiskEngineEvent } from '../../model/events';
import { getLayer } from '../../model/layer-graph';
import { type Consolidate, type OperationOptions, type OperationResult } from '../../port';
import * as qemuImg from '../../qemu/qemu-img';
import { fsyncPath } from '../../store/fs-atomic';
import { type EngineContext } from '../engine-context';
import { layerKey } from '../locks';
import { ioProgress } from '../progress';
import { pruneTemplates } from '../reclaim';
import { policyEvent } from './chain-depth-policy';

export async function consolidate(
  ctx: EngineContext,
  command: Consolidate,
  options?: OperationOptions,
): Promise<OperationResult> {
  return consolidateWith(ctx, command, options, undefined);
}

export async function consolidateWith(
  ctx: EngineContext,
  command: Consolidate,
  options: OperationOptions | undefined,
  policy: { anchorLayerId: string; depthBefore: number } | undefined,
): Promise<OperationResult> {
  const { operationId } = command;
  return ctx.runner.run(
    'consolidate',
    command,
    async () => undefined,
    (graph) => {
      const merged = decideConsolidate(graph, command);
      const event = merged[0];
      if (event.type !== 'LayerMerged') throw new Error('consolidate decided no merge');
      const upper = getLayer(graph, event.data.layerId);
      const lower = getLayer(graph, event.data.mergedLayerId);
      for (const layer of [upper, lower]) {
        if (ctx.live.isOpen(layer.layerId)) {
          throw new DiskEngineError(
            'DISK.IN_USE',
            `layer ${layer.layerId} is open in the storage daemon`,
            {
              layerId: layer.layerId,
            },
          );
        }
      }
      const events: DiskEngineEvent[] = policy
        ? [
            ...merged,
            policyEvent(
              ctx,
              upper.datastoreId,
              policy.anchorLayerId,
              'consolidated',
              policy.depthBefore,
              policy.depthBefore - 1,
            ),
          ]
        : merged;
      const newBacking = event.data.backingLayerId
        ? getLayer(graph, event.data.backingLayerId).fileName
        : null;
      return {
        datastoreId: upper.datastoreId,
        events,
        intent: {
          temporaryFiles: [],
          publishedFiles: [],
          removedFiles: [],
          completedWhen: {
            fileName: upper.fileName,
            backingFileName: newBacking,
            absentFileName: lower.fileName,
          },
        },
        locks: { exclusive: [layerKey(upper.layerId), layerKey(lower.layerId)], shared: [] },
        result: { operationId, events },
        execute: async () => {
          try {
            await qemuImg.commit(ctx.pathOf(upper), {
              signal: options?.signal,
              cwd: ctx.rootOf(upper.datastoreId),
              ioProgress: ioProgress(
                options,
                operationId,
                'merge',
                'rchar',
                await qemuImg.allocatedBytes(ctx.pathOf(upper)),
              ),
            });
          } catch (error) {
            // The layer below took part of the data: reads are unchanged, only clusters may leak.
            await qemuImg.check(ctx.pathOf(lower), { repair: 'leaks' }).catch(() => undefined);
            throw error;
          }
          // The merged image takes the upper layer's name: whatever stood on it reads the same.
          await rename(ctx.pathOf(lower), ctx.pathOf(upper));
          await fsyncPath(ctx.rootOf(upper.datastoreId));
          ctx.space.stale(upper.datastoreId);
        },
        afterCommit: () => pruneTemplates(ctx, upper.datastoreId),
      };
    },
  );
}
