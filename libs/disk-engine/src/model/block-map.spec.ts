import { compactBlockMap, extentsFromNbd } from './block-map';

const K64 = 65536;

describe('block maps', () => {
  it('merges adjacent extents of the same layer and leaves out what no layer holds', () => {
    const map = compactBlockMap(
      [
        { startBytes: 0, lengthBytes: K64, depth: 0, zero: false },
        { startBytes: K64, lengthBytes: K64, depth: 0, zero: false },
        { startBytes: 2 * K64, lengthBytes: 2 * K64, depth: 1, zero: false },
        { startBytes: 4 * K64, lengthBytes: K64, depth: null, zero: true },
        { startBytes: 5 * K64, lengthBytes: K64, depth: 1, zero: true },
      ],
      ['top', 'base'],
      8 * K64,
      (id) => id === 'base',
    );
    expect(map.extents).toEqual([
      { offsetBytes: 0, lengthBytes: 2 * K64, layerId: 'top', zero: false, shared: false },
      { offsetBytes: 2 * K64, lengthBytes: 2 * K64, layerId: 'base', zero: false, shared: true },
      { offsetBytes: 5 * K64, lengthBytes: K64, layerId: 'base', zero: true, shared: true },
    ]);
    expect(map.bytesPerLayer).toEqual([
      { layerId: 'top', mappedBytes: 2 * K64, shared: false },
      { layerId: 'base', mappedBytes: 3 * K64, shared: true },
    ]);
    expect(map.allocatedBytes).toBe(5 * K64);
  });

  it('does not merge across a gap', () => {
    const map = compactBlockMap(
      [
        { startBytes: 0, lengthBytes: K64, depth: 0, zero: false },
        { startBytes: 2 * K64, lengthBytes: K64, depth: 0, zero: false },
      ],
      ['top'],
      4 * K64,
      () => false,
    );
    expect(map.extents).toHaveLength(2);
  });

  it('maps a window: extents cut at its edges, bytes per layer counted inside it', () => {
    const map = compactBlockMap(
      [
        { startBytes: 0, lengthBytes: 4 * K64, depth: 1, zero: false },
        { startBytes: 4 * K64, lengthBytes: K64, depth: 0, zero: false },
      ],
      ['top', 'base'],
      8 * K64,
      () => false,
      { offsetBytes: 3 * K64, lengthBytes: 4 * K64 },
    );
    expect(map.extents).toEqual([
      { offsetBytes: 3 * K64, lengthBytes: K64, layerId: 'base', zero: false, shared: false },
      { offsetBytes: 4 * K64, lengthBytes: K64, layerId: 'top', zero: false, shared: false },
    ]);
    expect(map.bytesPerLayer.map((b) => b.mappedBytes)).toEqual([K64, K64]);
  });

  it('refuses an extent deeper than the chain', () => {
    expect(() =>
      compactBlockMap(
        [{ startBytes: 0, lengthBytes: 1, depth: 2, zero: false }],
        ['top'],
        K64,
        () => false,
      ),
    ).toThrow(/depth 2/);
  });

  it('joins the NBD allocation and allocation-depth contexts', () => {
    const allocation = [
      { offset: 0, length: 3 * K64, type: 0 },
      { offset: 3 * K64, length: K64, type: 3 },
    ];
    const depth = [
      { offset: 0, length: K64, type: 1 },
      { offset: K64, length: K64, type: 2 },
      { offset: 2 * K64, length: 2 * K64, type: 0 },
    ];
    expect(extentsFromNbd(allocation, depth)).toEqual([
      { startBytes: 0, lengthBytes: K64, depth: 0, zero: false },
      { startBytes: K64, lengthBytes: K64, depth: 1, zero: false },
      { startBytes: 2 * K64, lengthBytes: K64, depth: null, zero: false },
      { startBytes: 3 * K64, lengthBytes: K64, depth: null, zero: true },
    ]);
  });
});
