import { nextDepthStep } from './chain-depth';
import { created, diskOn, frozenLayer, given } from './specification';

/** A chain L1 <- L2 <- ... <- Ln with disk d on Ln; layers in `shared` also carry a template disk. */
function chain(n: number, shared: number[] = []) {
  const events = [];
  for (let i = 1; i <= n; i++) {
    const backingLayerId = i === 1 ? null : `L${i - 1}`;
    events.push(
      ...(i === n
        ? [created(`L${i}`, { backingLayerId })]
        : frozenLayer(`L${i}`, { backingLayerId })),
    );
    if (shared.includes(i)) events.push(diskOn(`t${i}`, `L${i}`));
  }
  events.push(diskOn('d', `L${n}`));
  return given(events).graph;
}

describe('chain-depth policy', () => {
  it('does nothing while the chain is at the limit', () => {
    expect(nextDepthStep(chain(4), 'L4', 4)).toEqual({ kind: 'within', depth: 4 });
  });

  it('past the limit, merges the deepest pair nobody else uses first', () => {
    expect(nextDepthStep(chain(5), 'L5', 4)).toEqual({
      kind: 'consolidate',
      depth: 5,
      layerId: 'L2',
      mergedLayerId: 'L1',
    });
  });

  it('skips layers another disk stands on', () => {
    // L1 and L2 are templates: merging L2 into L3's place would change what t2 reads.
    expect(nextDepthStep(chain(5, [1, 2]), 'L5', 4)).toEqual({
      kind: 'consolidate',
      depth: 5,
      layerId: 'L4',
      mergedLayerId: 'L3',
    });
  });

  it('skips layers open in the storage daemon', () => {
    const live = new Set(['L1', 'L5']);
    expect(nextDepthStep(chain(5), 'L5', 4, (id) => live.has(id))).toEqual({
      kind: 'consolidate',
      depth: 5,
      layerId: 'L3',
      mergedLayerId: 'L2',
    });
  });

  it('is exhausted when every layer below is shared: the caller flattens', () => {
    expect(nextDepthStep(chain(4, [1, 2, 3]), 'L4', 2)).toEqual({ kind: 'exhausted', depth: 4 });
  });
});
