/**
 * Chain-depth policy. Every read may walk the whole chain, and QEMU opens every layer of it, so
 * chains are kept at or under a configured depth (vSphere stops at 32). Past it the engine
 * consolidates layers nobody else uses, one pair at a time, and when none is left it flattens
 * (copies the chain down into one layer). This module only chooses; the driver acts.
 */
import { type LayerGraph, chainDepth, chainOf, isExclusiveBackingOf } from './layer-graph';

export const DEFAULT_MAX_CHAIN_DEPTH = 32;

export type DepthStep =
  | { kind: 'within'; depth: number }
  /** Merge `mergedLayerId` (the exclusive layer below) into `layerId`'s place. */
  | { kind: 'consolidate'; depth: number; layerId: string; mergedLayerId: string }
  /** No pair can be merged; the caller must flatten. */
  | { kind: 'exhausted'; depth: number };

/**
 * The next step that brings `layerId`'s chain to `maxDepth` or less. The deepest mergeable pair
 * goes first: old history merges before recent layers, as vSphere consolidation does. Layers
 * open in the storage daemon are left alone (`isLive`), since an offline merge cannot touch them.
 */
export function nextDepthStep(
  graph: LayerGraph,
  layerId: string,
  maxDepth: number,
  isLive: (layerId: string) => boolean = () => false,
): DepthStep {
  const depth = chainDepth(graph, layerId);
  if (depth <= maxDepth) return { kind: 'within', depth };
  const chain = chainOf(graph, layerId);
  for (let i = chain.length - 2; i >= 0; i--) {
    const upper = chain[i];
    const lower = chain[i + 1];
    const mergeable =
      isExclusiveBackingOf(graph, lower.layerId, upper.layerId) &&
      !upper.quarantined &&
      !lower.quarantined &&
      !isLive(upper.layerId) &&
      !isLive(lower.layerId);
    if (mergeable) {
      return { kind: 'consolidate', depth, layerId: upper.layerId, mergedLayerId: lower.layerId };
    }
  }
  return { kind: 'exhausted', depth };
}
