import { assertRoomFor, datastoreSpace } from './space';
import { DS, MIB, created, diskOn, frozenLayer, given } from './specification';
import { isDiskEngineError } from '../errors';

describe('space accounting', () => {
  // A replica R shared by two linked clones, and a thick disk on its own.
  const graph = given(
    frozenLayer('R'),
    diskOn('replica', 'R'),
    created('C1', { backingLayerId: 'R' }),
    diskOn('c1', 'C1'),
    created('C2', { backingLayerId: 'R' }),
    diskOn('c2', 'C2'),
    created('T', { format: 'thick-lazy-zeroed', capacityBytes: 32 * MIB }),
    diskOn('thick', 'T', { capacityBytes: 32 * MIB, format: 'thick-lazy-zeroed' }),
    created('OTHER', { datastoreId: 'ds2' }),
    diskOn('elsewhere', 'OTHER', { datastoreId: 'ds2' }),
  ).graph;
  const allocated = { R: 10 * MIB, C1: 1 * MIB, C2: 2 * MIB, T: 32 * MIB, OTHER: 5 * MIB };

  it('splits used bytes into shared (read by two or more disks) and own', () => {
    const space = datastoreSpace(graph, { datastoreId: DS, capacityBytes: 100 * MIB }, allocated);
    expect(space).toMatchObject({
      provisionedBytes: (64 * 3 + 32) * MIB,
      usedBytes: 45 * MIB,
      sharedBytes: 10 * MIB,
      ownBytes: 35 * MIB,
      freeBytes: 55 * MIB,
    });
    expect(space.disks.find((d) => d.diskId === 'c1')).toEqual({
      diskId: 'c1',
      capacityBytes: 64 * MIB,
      ownBytes: 1 * MIB,
      sharedBytes: 10 * MIB,
      chainDepth: 2,
    });
  });

  it('counts a layer as own again once only one disk reads it', () => {
    const alone = given(
      frozenLayer('R'),
      created('C1', { backingLayerId: 'R' }),
      diskOn('c1', 'C1'),
    ).graph;
    const space = datastoreSpace(alone, { datastoreId: DS, capacityBytes: 100 * MIB }, allocated);
    expect(space).toMatchObject({ sharedBytes: 0, ownBytes: 11 * MIB });
  });

  it('holds back what operations under way have reserved', () => {
    const space = datastoreSpace(
      graph,
      { datastoreId: DS, capacityBytes: 100 * MIB },
      allocated,
      50 * MIB,
    );
    expect(space.freeBytes).toBe(5 * MIB);
    expect(() => assertRoomFor(space, 5 * MIB)).not.toThrow();
    let refused: unknown;
    try {
      assertRoomFor(space, 5 * MIB + 1);
    } catch (error) {
      refused = error;
    }
    expect(isDiskEngineError(refused, 'DISK.NO_SPACE')).toBe(true);
  });
});
