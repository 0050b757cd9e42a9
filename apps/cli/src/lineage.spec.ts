import type { LineageNode, LineageView } from './api';
import { lineageTree } from './lineage';

const node = (
  vmId: string,
  derivesFrom: string | null,
  depth: number,
  origin: LineageNode['origin'],
  extra: Partial<LineageNode> = {},
): LineageNode => ({
  vmId,
  derivesFrom,
  depth,
  name: vmId,
  role: 'vm',
  state: 'present',
  createdAt: '2026-01-01T00:00:00.000Z',
  poolId: null,
  origin,
  snapshotName: null,
  package: null,
  ...extra,
});
const clone = (sourceVmId: string, linked: boolean) =>
  ({ kind: 'clone', sourceVmId, snapshotId: null, linked, format: 'thin' }) as const;
const view = (
  direction: LineageView['direction'],
  nodes: LineageNode[],
  truncated = false,
): LineageView => ({
  subject: { type: 'vm', id: nodes[0].vmId },
  vmId: nodes[0].vmId,
  direction,
  asOf: null,
  nodes,
  truncated,
});

it('draws ancestors from what the VM was first made from down to the VM', () => {
  const lines = lineageTree(
    view('ancestors', [
      node('desktop', 'parent', 0, {
        kind: 'fork',
        parentVmId: 'parent',
        replicaVmId: null,
        poolId: null,
      }),
      node('parent', 'golden', 1, clone('golden', true), {
        state: 'deleted',
        snapshotName: 'base',
      }),
      node('golden', null, 2, { kind: 'import', packageName: 'app.ova', descriptorSha256: 'ab' }),
    ]),
  );
  expect(lines).toEqual([
    'golden (vm, imported from app.ova) golden',
    '└─ parent (vm, linked clone at snapshot "base") parent [deleted]',
    '   └─ desktop (vm, instant clone) desktop',
  ]);
});

it('draws descendants under what each was cloned from, and says when some were left out', () => {
  const lines = lineageTree(
    view(
      'descendants',
      [
        node('golden', null, 0, { kind: 'new' }),
        node('a', 'golden', 1, clone('golden', false)),
        node('a1', 'a', 2, clone('a', true)),
        node('b', 'golden', 1, clone('golden', true)),
      ],
      true,
    ),
  );
  expect(lines).toEqual([
    'golden (vm, created) golden',
    '├─ a (vm, full clone (thin)) a',
    '│  └─ a1 (vm, linked clone) a1',
    '└─ b (vm, linked clone) b',
    '… more descendants than the limit: raise --limit',
  ]);
});

it('draws a tree for each VM a package was imported as', () => {
  const imported = { kind: 'import', packageName: 'app.ova', descriptorSha256: 'ab' } as const;
  const lines = lineageTree(
    view('descendants', [
      node('app-1', null, 0, imported),
      node('c1', 'app-1', 1, clone('app-1', false)),
      node('app-2', null, 0, imported),
      node('c2', 'app-2', 1, clone('app-2', true)),
    ]),
  );
  expect(lines).toEqual([
    'app-1 (vm, imported from app.ova) app-1',
    '└─ c1 (vm, full clone (thin)) c1',
    'app-2 (vm, imported from app.ova) app-2',
    '└─ c2 (vm, linked clone) c2',
  ]);
});
