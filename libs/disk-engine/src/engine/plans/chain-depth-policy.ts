/**
 * The chain-depth policy at work: before a chain would pass maxChainDepth, pairs nobody else
 * uses are consolidated (each its own logged operation); the decision is the model's
 * (model/chain-depth.ts).
 */
import { nextDepthStep } from '../../model/chain-depth';
import { type DiskEngineEvent } from '../../model/events';
import { type OperationOptions } from '../../port';
import { type EngineContext } from '../engine-context';
import { consolidateWith } from './consolidate';

export function policyEvent(
  ctx: EngineContext,
  datastoreId: string,
  layerId: string,
  action: 'consolidated' | 'flattened',
  depthBefore: number,
  depthAfter: number,
): DiskEngineEvent {
  return {
    type: 'ChainDepthPolicyApplied',
    data: {
      datastoreId,
      layerId,
      action,
      depthBefore,
      depthAfter,
      maxChainDepth: ctx.maxChainDepth,
    },
  };
}

/**
 * Brings `layerId`'s chain to `targetDepth` by consolidating pairs nobody else uses (each a
 * logged operation of its own, id derived from the caller's). Says whether that sufficed.
 */
export async function applyDepthPolicy(
  ctx: EngineContext,
  operationId: string,
  layerId: string,
  targetDepth: number,
  options: OperationOptions | undefined,
): Promise<{ events: DiskEngineEvent[]; exhausted: boolean }> {
  const events: DiskEngineEvent[] = [];
  for (let round = 1; ; round++) {
    const step = nextDepthStep(ctx.runner.graph, layerId, targetDepth, (id) => ctx.live.isOpen(id));
    if (step.kind === 'within') return { events, exhausted: false };
    if (step.kind === 'exhausted') return { events, exhausted: true };
    const result = await consolidateWith(
      ctx,
      { operationId: `${operationId}.depth-${round}`, target: { layerId: step.layerId } },
      options,
      { anchorLayerId: layerId, depthBefore: step.depth },
    );
    events.push(...result.events);
  }
}
