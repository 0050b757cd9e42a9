import { type TestDatabase, createTestDatabase } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import { type AsOf, type LineageDirection, lineageRoots, vmLineage } from './vm-lineage.query';

/**
 * Lineage on an audit log written here as the projector writes it: Horizon's chain (golden image
 * → internal template → replica → parent → instant clones) with the parent deleted, names and
 * roles that changed, the instant asked about, and a history that loops (which Dolly never
 * records) answered without hanging.
 */

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(2);
});
afterAll(() => db.drop());

let position = 0;
const versions = new Map<string, number>();

async function record(vmId: string, type: string, data: Record<string, unknown>, at: string) {
  position += 1;
  const version = (versions.get(vmId) ?? 0) + 1;
  versions.set(vmId, version);
  await db.pool.query(
    `INSERT INTO read_model.audit_log (event_id, global_position, stream_id, stream_type, stream_version, type,
       schema_version, actor_id, actor_role, correlation_id, causation_id, task_id, occurred_at, data, command)
     VALUES ($1, $2, $3, 'vm', $4, $5, 1, 'alice', 'operator', $6, NULL, NULL, $7, $8, NULL)`,
    [
      uuidv7(),
      position,
      `vm-${vmId}`,
      version,
      type,
      uuidv7(),
      at,
      JSON.stringify({ vmId, ...data }),
    ],
  );
  return String(position);
}

const created = (vmId: string, name: string, origin: Record<string, unknown>, at: string) =>
  record(vmId, 'VmCreated', { name, role: 'vm', origin, poolId: null }, at);
const clone = (sourceVmId: string, snapshotId: string | null, linked: boolean) => ({
  kind: 'clone',
  sourceVmId,
  snapshotId,
  linked,
  format: 'thin',
});

const golden = uuidv7();
const template = uuidv7();
const replica = uuidv7();
const parent = uuidv7();
const desktops = [uuidv7(), uuidv7()];
const other = uuidv7();
const snapshotId = uuidv7();
let beforeDeletion: string;

beforeAll(async () => {
  await created(
    golden,
    'golden',
    { kind: 'import', packageName: 'app.ova', descriptorSha256: 'ab'.repeat(32) },
    '2026-01-01T00:00:00Z',
  );
  await record(
    golden,
    'VmImported',
    { package: { name: 'app.ova', certificate: { subject: 'CN=Acme' } } },
    '2026-01-01T00:00:01Z',
  );
  await record(golden, 'VmSnapshotTaken', { snapshotId, name: 'patched' }, '2026-01-01T00:01:00Z');
  await created(
    template,
    'internal-template',
    clone(golden, snapshotId, true),
    '2026-01-01T00:02:00Z',
  );
  await record(template, 'VmConvertedToTemplate', {}, '2026-01-01T00:02:30Z');
  await created(replica, 'replica', clone(template, null, false), '2026-01-01T00:03:00Z');
  await created(parent, 'parent', clone(replica, null, true), '2026-01-01T00:04:00Z');
  for (const desktop of desktops)
    await created(
      desktop,
      `desktop-${desktop.slice(-4)}`,
      { kind: 'fork', parentVmId: parent, replicaVmId: replica, poolId: null },
      '2026-01-01T00:05:00Z',
    );
  await created(other, 'unrelated', { kind: 'new' }, '2026-01-01T00:05:00Z');
  beforeDeletion = await record(
    desktops[0],
    'VmRenamed',
    { name: 'renamed-desktop' },
    '2026-01-01T00:06:00Z',
  );
  await record(parent, 'VmDeleted', {}, '2026-01-01T00:07:00Z');
});

const lineage = async (vmId: string, direction: LineageDirection, asOf: AsOf = null, limit = 100) =>
  (await vmLineage(db.pool, vmId, direction, asOf, limit)).map((row) => ({
    vmId: row.vm_id,
    from: row.derives_from,
    name: row.name,
    role: row.role,
    ended: row.ended,
  }));

it('follows an instant clone up to the package its golden image came from, past a deleted parent', async () => {
  const rows = await vmLineage(db.pool, desktops[0], 'ancestors', null, 100);
  expect(rows.map((row) => [row.vm_id, row.derives_from, row.name, row.role, row.ended])).toEqual([
    [desktops[0], parent, 'renamed-desktop', 'vm', null],
    [parent, replica, 'parent', 'vm', 'VmDeleted'],
    [replica, template, 'replica', 'vm', null],
    [template, golden, 'internal-template', 'template', null],
    [golden, null, 'golden', 'vm', null],
  ]);
  expect(rows[3].snapshot_name).toBe('patched');
  expect(rows[4].package).toMatchObject({ certificate: { subject: 'CN=Acme' } });
});

it('finds everything that derives from the golden image, each after what it derives from', async () => {
  const rows = await lineage(golden, 'descendants');
  expect(rows.map((row) => row.vmId)).toEqual([
    golden,
    template,
    replica,
    parent,
    ...[...desktops].sort(),
  ]);
  expect(rows.find((row) => row.vmId === parent)).toMatchObject({ from: replica });
  expect(rows.map((row) => row.vmId)).not.toContain(other);
});

it('answers as of an instant: names, roles and deletions as they were then, and nothing made later', async () => {
  expect(
    (await lineage(desktops[0], 'ancestors', { position: String(Number(beforeDeletion) - 1) }))[0]
      .name,
  ).toMatch(/^desktop-/);
  expect((await lineage(parent, 'ancestors', { position: beforeDeletion }))[0].ended).toBeNull();
  expect((await lineage(template, 'ancestors', { time: '2026-01-01T00:02:10Z' }))[0].role).toBe(
    'vm',
  );
  expect(await lineage(golden, 'descendants', { time: '2026-01-01T00:03:30Z' })).toHaveLength(3);
  expect(await lineage(parent, 'ancestors', { time: '2025-12-31T00:00:00Z' })).toEqual([]);
});

it('stops at the limit, the VM first', async () => {
  expect((await lineage(golden, 'descendants', null, 2)).map((row) => row.vmId)).toEqual([
    golden,
    template,
  ]);
});

it('knows no VM that was never created', async () => {
  expect(await lineage(uuidv7(), 'ancestors')).toEqual([]);
  expect(await lineage(uuidv7(), 'descendants')).toEqual([]);
});

it('ends a history that loops instead of walking it forever', async () => {
  const [a, b] = [uuidv7(), uuidv7()];
  await created(a, 'a', clone(b, null, true), '2026-01-02T00:00:00Z');
  await created(b, 'b', clone(a, null, true), '2026-01-02T00:00:00Z');
  expect((await lineage(a, 'ancestors')).map((row) => row.vmId)).toEqual([a, b]);
  expect((await lineage(a, 'descendants')).map((row) => row.vmId)).toEqual([a, b]);
});

describe('what a disk, a layer or a package resolves to', () => {
  const digest = 'cd'.repeat(32);
  const [app, app2, appClone] = [uuidv7(), uuidv7(), uuidv7()];
  const [appDisk, cloneDisk] = [uuidv7(), uuidv7()];
  const imported = { kind: 'import', packageName: 'crm.ova', descriptorSha256: digest };
  let beforeSecondImport: string;
  let beforeCloneWrote: string;

  beforeAll(async () => {
    await record(
      app,
      'VmCreated',
      { name: 'crm', role: 'vm', origin: imported, poolId: null, disks: [{ diskId: appDisk }] },
      '2026-02-01T00:00:00Z',
    );
    await record(
      app,
      'VmProvisioned',
      { disks: [{ diskId: appDisk, layerId: 'layer-crm' }] },
      '2026-02-01T00:00:01Z',
    );
    await record(
      app,
      'VmSnapshotTaken',
      { snapshotId: uuidv7(), name: 'base', layers: [{ diskId: appDisk, layerId: 'layer-crm' }] },
      '2026-02-01T00:01:00Z',
    );
    beforeSecondImport = await record(
      appClone,
      'VmCreated',
      {
        name: 'crm-clone',
        role: 'vm',
        origin: clone(app, null, true),
        poolId: null,
        disks: [{ diskId: cloneDisk }],
      },
      '2026-02-01T00:02:00Z',
    );
    beforeCloneWrote = beforeSecondImport;
    await record(
      app2,
      'VmCreated',
      { name: 'crm-2', role: 'vm', origin: imported, poolId: null, disks: [{ diskId: uuidv7() }] },
      '2026-02-01T00:03:00Z',
    );
    await record(
      appClone,
      'VmProvisioned',
      { disks: [{ diskId: cloneDisk, layerId: 'layer-crm-clone' }] },
      '2026-02-01T00:04:00Z',
    );
  });

  const at = (position: string): AsOf => ({ position });

  it('finds a disk’s VM, a layer’s maker (not a VM that froze it later) and every import of a package', async () => {
    expect(await lineageRoots(db.pool, 'disk', cloneDisk, null)).toEqual([appClone]);
    expect(await lineageRoots(db.pool, 'layer', 'layer-crm', null)).toEqual([app]);
    expect(await lineageRoots(db.pool, 'layer', 'layer-crm-clone', null)).toEqual([appClone]);
    expect(await lineageRoots(db.pool, 'package', digest, null)).toEqual([app, app2]);
    const fromPackage = await vmLineage(db.pool, app, 'descendants', null, 100);
    expect(fromPackage.map((row) => row.vm_id)).toEqual([app, appClone]);
  });

  it('as of an instant: what had been recorded by then', async () => {
    expect(await lineageRoots(db.pool, 'package', digest, at(beforeSecondImport))).toEqual([app]);
    expect(await lineageRoots(db.pool, 'layer', 'layer-crm-clone', at(beforeCloneWrote))).toEqual(
      [],
    );
    expect(await lineageRoots(db.pool, 'disk', cloneDisk, at('1'))).toEqual([]);
  });

  it('knows nothing of what was never recorded, whatever it is named', async () => {
    for (const [subject, id] of [
      ['disk', uuidv7()],
      ['layer', "x' OR '1'='1"],
      ['layer', '"}]'],
      ['package', 'ef'.repeat(32)],
    ] as const)
      expect(await lineageRoots(db.pool, subject, id, null)).toEqual([]);
  });
});
