/**
 * linkedClone: a new disk, an empty overlay on a frozen layer (a full copy when the chain is too deep).
 */
import { decideLinkedClone, resolveLayer } from '../../model/decide';
import { type LayerCreated } from '../../model/events';
import { chainDepth, getLayer } from '../../model/layer-graph';
import { assertRoomFor } from '../../model/space';
import { type DiskResult, type LinkedClone, type OperationOptions } from '../../port';
import { type EngineContext } from '../engine-context';
import { layerKey } from '../locks';
import { OVERLAY_BYTES } from '../space-accounting';
import { applyDepthPolicy, policyEvent } from './chain-depth-policy';
import { fullClonePlan, fullCloneProbe } from './full-clone';
import { newDiskPlan } from './new-disk';

export async function linkedClone(
  ctx: EngineContext,
  command: LinkedClone,
  options?: OperationOptions,
): Promise<DiskResult> {
  const { operationId } = command;
  return ctx.runner.run(
    'linkedClone',
    command,
    async () => {
      const source = resolveLayer(ctx.runner.graph, command.source);
      const policy = await applyDepthPolicy(
        ctx,
        operationId,
        source.layerId,
        ctx.maxChainDepth - 1,
        options,
      );
      const space = await ctx.space.probe(source.datastoreId, false);
      // Still too deep (every layer below is shared): the clone is made flat, by a full copy.
      const flatten = policy.exhausted
        ? await fullCloneProbe(ctx, {
            ...command,
            datastoreId: source.datastoreId,
            format: 'thin',
          })
        : undefined;
      return { policy, space, flatten };
    },
    (graph, { policy, space, flatten }) => {
      if (flatten) {
        // Refused for the same reasons as a linked clone, although it is made as a full copy.
        decideLinkedClone(graph, command, { now: ctx.now(), nextLayerId: () => 'unused' });
        const source = resolveLayer(graph, command.source);
        const depthBefore = chainDepth(graph, source.layerId) + 1;
        return fullClonePlan(
          ctx,
          graph,
          { ...command, datastoreId: source.datastoreId, format: 'thin' },
          flatten,
          options,
          [
            ...policy.events,
            policyEvent(ctx, source.datastoreId, source.layerId, 'flattened', depthBefore, 1),
          ],
        );
      }
      const events = decideLinkedClone(graph, command, ctx.decisionContext());
      const overlay = (events[0] as LayerCreated).data;
      const base = getLayer(graph, overlay.backingLayerId!);
      assertRoomFor(space(), OVERLAY_BYTES);
      const temporary = ctx.temporaryPath(overlay.datastoreId, overlay.fileName, operationId);
      return newDiskPlan(
        ctx,
        operationId,
        events,
        overlay,
        temporary,
        OVERLAY_BYTES,
        () => ctx.overlays.write(ctx.rootOf(base.datastoreId), base, temporary),
        { shared: [layerKey(base.layerId)], policyEvents: policy.events },
      );
    },
  );
}
