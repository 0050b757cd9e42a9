import {
  decideConsolidate,
  decideCreateDisk,
  decideDeleteDisk,
  decideFork,
  decideFreeze,
  decideFullClone,
  decideLinkedClone,
  decideMaterialise,
  decideSnapshot,
} from './decide';
import { chainOf, referenceCount } from './layer-graph';
import {
  DS,
  MIB,
  NOW,
  context,
  created,
  deleted,
  diskOn,
  frozenLayer,
  given,
  layer,
  reclaimed,
} from './specification';

describe('create disk', () => {
  it('makes a base layer and a disk on it', () => {
    given()
      .when((g) =>
        decideCreateDisk(
          g,
          {
            datastoreId: DS,
            diskId: 'vm1-disk0',
            kind: 'disk',
            format: 'thick-lazy-zeroed',
            capacityBytes: 64 * MIB,
            clusterSizeBytes: 65536,
          },
          context(),
        ),
      )
      .then([
        created('L1', { format: 'thick-lazy-zeroed' }),
        diskOn('vm1-disk0', 'L1', { format: 'thick-lazy-zeroed' }),
      ]);
  });

  it.each([
    ['a path separator', 'a/b', 'DISK.BAD_NAME'],
    ['a parent reference', 'a..b', 'DISK.BAD_NAME'],
    ['a leading dot', '.hidden', 'DISK.BAD_NAME'],
  ] as const)('refuses a disk id with %s', (_what, diskId, code) => {
    given()
      .when((g) =>
        decideCreateDisk(
          g,
          {
            datastoreId: DS,
            diskId,
            kind: 'disk',
            format: 'thin',
            capacityBytes: MIB,
            clusterSizeBytes: 65536,
          },
          context(),
        ),
      )
      .thenThrows(code);
  });

  it('refuses a capacity that is not whole sectors', () => {
    given()
      .when((g) =>
        decideCreateDisk(
          g,
          {
            datastoreId: DS,
            diskId: 'd',
            kind: 'disk',
            format: 'thin',
            capacityBytes: 1000,
            clusterSizeBytes: 65536,
          },
          context(),
        ),
      )
      .thenThrows('DISK.BAD_REQUEST');
  });

  it('refuses an id already taken', () => {
    given(created('L1'), diskOn('d', 'L1'))
      .when((g) =>
        decideCreateDisk(
          g,
          {
            datastoreId: DS,
            diskId: 'd',
            kind: 'disk',
            format: 'thin',
            capacityBytes: MIB,
            clusterSizeBytes: 65536,
          },
          context(2),
        ),
      )
      .thenThrows('DISK.ALREADY_EXISTS');
  });
});

describe('snapshot', () => {
  it('freezes the top and moves the disk to a new thin delta over it', () => {
    given(created('L1', { format: 'thick-eager-zeroed' }), diskOn('d', 'L1'))
      .when((g) => decideSnapshot(g, { diskId: 'd' }, context(2)))
      .then([
        { type: 'LayerFrozen', data: { datastoreId: DS, layerId: 'L1' } },
        created('L2', { backingLayerId: 'L1', format: 'thin' }),
        {
          type: 'DiskTopMoved',
          data: { datastoreId: DS, diskId: 'd', topLayerId: 'L2', previousTopLayerId: 'L1' },
        },
      ]);
  });

  it('refuses a template (its top is frozen)', () => {
    given(frozenLayer('L1'), diskOn('t', 'L1'))
      .when((g) => decideSnapshot(g, { diskId: 't' }, context(2)))
      .thenThrows('DISK.LAYER_FROZEN');
  });

  it('refuses an unknown disk', () => {
    given()
      .when((g) => decideSnapshot(g, { diskId: 'nope' }, context()))
      .thenThrows('DISK.NOT_FOUND');
  });
});

describe('freeze (convert to template)', () => {
  it('freezes in place and copies nothing', () => {
    given(created('L1'), diskOn('d', 'L1'))
      .when((g) => decideFreeze(g, { diskId: 'd' }))
      .then([{ type: 'LayerFrozen', data: { datastoreId: DS, layerId: 'L1' } }]);
  });

  it('is a no-op on a template', () => {
    given(frozenLayer('L1'), diskOn('t', 'L1'))
      .when((g) => decideFreeze(g, { diskId: 't' }))
      .then([]);
  });
});

describe('linked clone', () => {
  it('stands a new thin overlay on the frozen layer', () => {
    const after = given(frozenLayer('L1'), diskOn('t', 'L1'))
      .when((g) => decideLinkedClone(g, { source: { diskId: 't' }, diskId: 'c1' }, context(2)))
      .then([created('L2', { backingLayerId: 'L1' }), diskOn('c1', 'L2')]);
    expect(referenceCount(after, 'L1')).toBe(2);
  });

  it('refuses a writable layer', () => {
    given(created('L1'), diskOn('d', 'L1'))
      .when((g) => decideLinkedClone(g, { source: { layerId: 'L1' }, diskId: 'c1' }, context(2)))
      .thenThrows('DISK.NOT_FROZEN');
  });

  it('refuses another datastore than the base', () => {
    given(frozenLayer('L1'), diskOn('t', 'L1'))
      .when((g) =>
        decideLinkedClone(
          g,
          { source: { layerId: 'L1' }, diskId: 'c1', datastoreId: 'ds2' },
          context(2),
        ),
      )
      .thenThrows('DISK.BACKING_OUTSIDE_DATASTORE');
  });

  it('refuses a quarantined base', () => {
    given(frozenLayer('L1'), diskOn('t', 'L1'), {
      type: 'LayerQuarantined',
      data: { datastoreId: DS, layerId: 'L1', reason: 'x' },
    })
      .when((g) => decideLinkedClone(g, { source: { layerId: 'L1' }, diskId: 'c1' }, context(2)))
      .thenThrows('DISK.QUARANTINED');
  });
});

describe('full clone', () => {
  it('makes an independent base in the source disk format when asked for "same"', () => {
    given(
      created('L1', { format: 'thick-lazy-zeroed' }),
      diskOn('d', 'L1', { format: 'thick-lazy-zeroed' }),
    )
      .when((g) =>
        decideFullClone(
          g,
          { source: { diskId: 'd' }, diskId: 'c', datastoreId: 'ds2', format: 'same' },
          context(2),
        ),
      )
      .then([
        created('L2', { datastoreId: 'ds2', format: 'thick-lazy-zeroed' }),
        diskOn('c', 'L2', { datastoreId: 'ds2', format: 'thick-lazy-zeroed' }),
      ]);
  });

  it('takes "same" from the base of a layer chain', () => {
    given(
      frozenLayer('L1', { format: 'thick-eager-zeroed' }),
      frozenLayer('L2', { backingLayerId: 'L1' }),
      diskOn('t', 'L2'),
    )
      .when((g) =>
        decideFullClone(
          g,
          { source: { layerId: 'L2' }, diskId: 'c', datastoreId: DS, format: 'same' },
          context(3),
        ),
      )
      .then([
        created('L3', { format: 'thick-eager-zeroed' }),
        diskOn('c', 'L3', { format: 'thick-eager-zeroed' }),
      ]);
  });
});

describe('consolidate', () => {
  it('merges the exclusive layer below into the top, which keeps its name', () => {
    const after = given(
      frozenLayer('L1'),
      frozenLayer('L2', { backingLayerId: 'L1', format: 'thin' }),
      created('L3', { backingLayerId: 'L2' }),
      diskOn('d', 'L3'),
    )
      .when((g) => decideConsolidate(g, { target: { diskId: 'd' } }))
      .then([
        {
          type: 'LayerMerged',
          data: {
            datastoreId: DS,
            layerId: 'L3',
            mergedLayerId: 'L2',
            backingLayerId: 'L1',
            format: 'thin',
          },
        },
      ]);
    expect(chainOf(after, 'L3').map((l) => l.layerId)).toEqual(['L3', 'L1']);
    expect(after.layers.L2).toBeUndefined();
  });

  it('refuses when a linked clone also stands on the layer below', () => {
    given(
      frozenLayer('L1'),
      created('L2', { backingLayerId: 'L1' }),
      diskOn('d', 'L2'),
      created('L3', { backingLayerId: 'L1' }),
      diskOn('c', 'L3'),
    )
      .when((g) => decideConsolidate(g, { target: { diskId: 'd' } }))
      .thenThrows('DISK.LAYER_SHARED');
  });

  it('refuses when a template disk stands on the layer below', () => {
    given(
      frozenLayer('L1'),
      diskOn('t', 'L1'),
      created('L2', { backingLayerId: 'L1' }),
      diskOn('d', 'L2'),
    )
      .when((g) => decideConsolidate(g, { target: { diskId: 'd' } }))
      .thenThrows('DISK.LAYER_SHARED');
  });

  it('refuses a base layer', () => {
    given(created('L1'), diskOn('d', 'L1'))
      .when((g) => decideConsolidate(g, { target: { diskId: 'd' } }))
      .thenThrows('DISK.NO_BACKING');
  });
});

describe('materialise', () => {
  const parentGone = [
    frozenLayer('R'), // replica
    frozenLayer('P', { backingLayerId: 'R' }), // parent's own frozen delta
    created('C', { backingLayerId: 'P' }),
    diskOn('clone', 'C'),
  ];

  it('copies what the clone reads from the releasing layer, restands it below, and reclaims that layer', () => {
    const after = given(...parentGone)
      .when((g) => decideMaterialise(g, { target: { diskId: 'clone' }, releaseLayerId: 'P' }))
      .then([
        {
          type: 'LayerRebased',
          data: { datastoreId: DS, layerId: 'C', backingLayerId: 'R', previousBackingLayerId: 'P' },
        },
        reclaimed('P'),
      ]);
    expect(chainOf(after, 'C').map((l) => l.layerId)).toEqual(['C', 'R']);
  });

  it('keeps the released layer while another clone still stands on it', () => {
    given(...parentGone, created('C2', { backingLayerId: 'P' }), diskOn('clone2', 'C2'))
      .when((g) => decideMaterialise(g, { target: { diskId: 'clone' }, releaseLayerId: 'P' }))
      .then([
        {
          type: 'LayerRebased',
          data: { datastoreId: DS, layerId: 'C', backingLayerId: 'R', previousBackingLayerId: 'P' },
        },
      ]);
  });

  it('flattens (stands on nothing) when no layer to release is named', () => {
    given(...parentGone)
      .when((g) => decideMaterialise(g, { target: { layerId: 'C' }, releaseLayerId: null }))
      .then([
        {
          type: 'LayerRebased',
          data: {
            datastoreId: DS,
            layerId: 'C',
            backingLayerId: null,
            previousBackingLayerId: 'P',
          },
        },
        reclaimed('P'),
        reclaimed('R'),
      ]);
  });

  it('refuses a layer that is not below', () => {
    given(...parentGone, frozenLayer('X'))
      .when((g) => decideMaterialise(g, { target: { layerId: 'C' }, releaseLayerId: 'X' }))
      .thenThrows('DISK.NOT_IN_CHAIN');
  });
});

describe('delete disk', () => {
  it('reclaims the chain nothing else uses, top first', () => {
    given(frozenLayer('L1'), created('L2', { backingLayerId: 'L1' }), diskOn('d', 'L2'))
      .when((g) => decideDeleteDisk(g, { diskId: 'd' }))
      .then([deleted('d'), reclaimed('L2'), reclaimed('L1')]);
  });

  it('keeps a base that a linked clone stands on until the last clone goes', () => {
    const history = [
      frozenLayer('B'),
      diskOn('t', 'B'),
      created('C1', { backingLayerId: 'B' }),
      diskOn('c1', 'C1'),
    ];
    const afterTemplate = given(...history)
      .when((g) => decideDeleteDisk(g, { diskId: 't' }))
      .then([deleted('t')]);
    expect(afterTemplate.layers.B).toEqual(layer('B', { frozen: true }));
    given(...history, deleted('t'))
      .when((g) => decideDeleteDisk(g, { diskId: 'c1' }))
      .then([deleted('c1'), reclaimed('C1'), reclaimed('B')]);
  });
});

describe('fork', () => {
  const runningParent = [
    frozenLayer('R'),
    created('PD', { backingLayerId: 'R' }),
    diskOn('parent-disk', 'PD'),
    created('PM', { kind: 'memory', capacityBytes: 16 * MIB }),
    diskOn('parent-mem', 'PM', { kind: 'memory', capacityBytes: 16 * MIB }),
  ];

  it('freezes the parent disk and memory in place and gives the fork overlays of both', () => {
    given(...runningParent)
      .when((g) =>
        decideFork(
          g,
          {
            sources: [
              { diskId: 'parent-disk', newDiskId: 'ic1-disk' },
              { diskId: 'parent-mem', newDiskId: 'ic1-mem' },
            ],
          },
          context(1),
        ),
      )
      .then([
        { type: 'LayerFrozen', data: { datastoreId: DS, layerId: 'PD' } },
        created('L1', { backingLayerId: 'PD' }),
        diskOn('ic1-disk', 'L1'),
        { type: 'LayerFrozen', data: { datastoreId: DS, layerId: 'PM' } },
        created('L2', { backingLayerId: 'PM', kind: 'memory', capacityBytes: 16 * MIB }),
        diskOn('ic1-mem', 'L2', { kind: 'memory', capacityBytes: 16 * MIB }),
      ]);
  });

  it('a second fork adds only overlays, and deleting the parent keeps the frozen layers for the forks', () => {
    const firstFork = decideFork(
      given(...runningParent).graph,
      { sources: [{ diskId: 'parent-mem', newDiskId: 'ic1-mem' }] },
      context(1),
    );
    given(...runningParent, firstFork)
      .when((g) =>
        decideFork(g, { sources: [{ diskId: 'parent-mem', newDiskId: 'ic2-mem' }] }, context(2)),
      )
      .then([
        created('L2', { backingLayerId: 'PM', kind: 'memory', capacityBytes: 16 * MIB }),
        diskOn('ic2-mem', 'L2', { kind: 'memory', capacityBytes: 16 * MIB }),
      ]);
    given(...runningParent, firstFork)
      .when((g) => decideDeleteDisk(g, { diskId: 'parent-mem' }))
      .then([deleted('parent-mem')]);
  });

  it('refuses a fork that names one new disk twice', () => {
    given(...runningParent)
      .when((g) =>
        decideFork(
          g,
          {
            sources: [
              { diskId: 'parent-disk', newDiskId: 'x' },
              { diskId: 'parent-mem', newDiskId: 'x' },
            ],
          },
          context(),
        ),
      )
      .thenThrows('DISK.ALREADY_EXISTS');
  });
});

it('every decision is pure: same graph and context, same events', () => {
  const { graph } = given(frozenLayer('L1'), diskOn('t', 'L1'));
  const decide = () =>
    decideLinkedClone(graph, { source: { diskId: 't' }, diskId: 'c' }, context(5));
  expect(decide()).toEqual(decide());
  expect(decide()[0]).toMatchObject({ data: { createdAt: NOW } });
});
