import { VM_ROLES } from '@dolly/domain';
import { DollyStack } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import {
  datastoreFolderOf,
  type Accepted,
  MiB,
  adminCli,
  expectStatus,
  registerDatastore,
  registerHost,
  vmDefinition,
  workerServes,
} from './support/inventory';
import {
  allocatedBytes,
  fingerprint,
  images,
  layerFile,
  leftovers,
  qemuImgInfo,
  qemuIo,
  reads,
  sameContent,
} from './support/disks';
import { type Problem, type Vm, commandDone, getVm } from './support/vms';

jest.setTimeout(180_000);

let stack: DollyStack;
let hostId: string;
let datastoreId: string;
let folder: string;

beforeAll(async () => {
  stack = await DollyStack.start();
  hostId = await registerHost(stack);
  datastoreId = await registerDatastore(stack);
  folder = await datastoreFolderOf(stack, datastoreId);
  await workerServes(stack, datastoreId);
});
afterAll(() => stack?.stop());

const vm = (vmId: string) => getVm(stack, vmId);
const done = (method: string, path: string, body?: unknown) =>
  commandDone(stack, method, path, body);

async function newVm(
  format: 'thin' | 'thick-lazy-zeroed' | 'thick-eager-zeroed' = 'thin',
  capacityBytes = 32 * MiB,
): Promise<Vm> {
  return done(
    'POST',
    '/vms',
    vmDefinition(hostId, datastoreId, undefined, [{ capacityBytes, format }]),
  );
}

const diskFile = (v: Vm, index = 0) => layerFile(folder, v.disks[index].layerId!);

/** Writes a byte pattern into a VM's first disk through its NBD export (powering it on and off around it). */
async function writeThroughExport(
  vmId: string,
  pattern: number,
  offset: number,
  length: number,
): Promise<void> {
  const running = await done('POST', `/vms/${vmId}/power-on`);
  await qemuIo(running.live!.exports[0].uri, `write -P ${pattern} ${offset} ${length}`);
  await done('POST', `/vms/${vmId}/power-off`);
}

describe('disk formats', () => {
  it('makes thin, thick lazy-zeroed and thick eager-zeroed disks with their real costs', async () => {
    const capacity = 64 * MiB;
    const thin = await newVm('thin', capacity);
    const lazy = await newVm('thick-lazy-zeroed', capacity);
    const eager = await newVm('thick-eager-zeroed', capacity);
    for (const v of [thin, lazy, eager]) {
      const info = await qemuImgInfo(diskFile(v));
      expect([info.format, info['virtual-size']]).toEqual(['qcow2', capacity]);
    }
    expect(allocatedBytes(diskFile(thin))).toBeLessThan(2 * MiB);
    expect(allocatedBytes(diskFile(lazy))).toBeGreaterThanOrEqual(capacity);
    expect(allocatedBytes(diskFile(eager))).toBeGreaterThanOrEqual(capacity);
    expect(await reads(diskFile(lazy), 0, 0, capacity)).toBe(true);
  });
});

describe('clone VM', () => {
  it('copies a powered-off VM exactly, with its own identity', async () => {
    const source = await newVm();
    await writeThroughExport(source.vmId, 0x5a, 0, 4 * MiB);
    const clone = await done('POST', `/vms/${source.vmId}/clone`, { name: 'exact-copy' });
    expect(clone).toMatchObject({
      name: 'exact-copy',
      role: 'vm',
      lifecycle: 'ready',
      powerState: 'poweredOff',
      origin: { kind: 'clone', sourceVmId: source.vmId, linked: false },
    });
    expect(clone.vmId).not.toBe(source.vmId);
    expect(clone.biosUuid).not.toBe(source.biosUuid);
    expect(clone.nics[0].macAddress).not.toBe(source.nics[0].macAddress);
    expect(clone.disks[0].diskId).not.toBe(source.disks[0].diskId);
    const sourceNow = await vm(source.vmId);
    expect(await sameContent(diskFile(sourceNow), diskFile(clone))).toBe(true);
    expect((await qemuImgInfo(diskFile(clone)))['backing-filename']).toBeUndefined();
  });

  it('copies each format as asked', async () => {
    const source = await newVm('thin', 48 * MiB);
    const eager = await done('POST', `/vms/${source.vmId}/clone`, {
      name: 'as-eager',
      format: 'thick-eager-zeroed',
    });
    expect(eager.disks[0].format).toBe('thick-eager-zeroed');
    expect(allocatedBytes(diskFile(eager))).toBeGreaterThanOrEqual(48 * MiB);
    const same = await done('POST', `/vms/${source.vmId}/clone`, { name: 'as-same' });
    expect(same.disks[0].format).toBe('thin');
    expect(allocatedBytes(diskFile(same))).toBeLessThan(2 * MiB);
  });

  it('clones a running VM while it is written: crash-consistent, and the source keeps running and writing', async () => {
    const source = await newVm('thin', 32 * MiB);
    const running = await done('POST', `/vms/${source.vmId}/power-on`);
    const uri = running.live!.exports[0].uri;
    await qemuIo(uri, 'write -P 0x11 0 8M');
    // A writer keeps stamping the second half while the clone is taken.
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        await qemuIo(uri, `write -P ${0x20 + (writes % 8)} 16M 4M`);
        writes += 1;
      }
    })();
    const clone = await done('POST', `/vms/${source.vmId}/clone`, {
      name: 'live-copy',
      format: 'thin',
    });
    const writesDuringClone = writes;
    await new Promise((resolve) => setTimeout(resolve, 300));
    writing = false;
    await writer;
    expect(writes).toBeGreaterThan(writesDuringClone);
    // Everything written before the clone began is in the copy; the stamped range is one whole stamp.
    expect(await reads(diskFile(clone), 0x11, 0, 8 * MiB)).toBe(true);
    const stamps = await Promise.all(
      Array.from({ length: 9 }, (_, i) =>
        reads(diskFile(clone), i === 8 ? 0 : 0x20 + i, 16 * MiB, 4 * MiB),
      ),
    );
    expect(stamps.filter(Boolean)).toHaveLength(1);
    // The source still runs, on the chain it had, and is still writable.
    const after = await vm(source.vmId);
    expect(after.powerState).toBe('poweredOn');
    await qemuIo(after.live!.exports[0].uri, 'write -P 0x33 24M 1M');
    await done('POST', `/vms/${source.vmId}/power-off`);
  });

  it('stands a linked clone on a snapshot without copying, and keeps the source while it stands', async () => {
    const source = await newVm();
    await writeThroughExport(source.vmId, 0x44, 0, 2 * MiB);
    const snapped = await done('POST', `/vms/${source.vmId}/snapshots`, { name: 'golden' });
    const snapshot = snapped.snapshots[0];
    const linked = await done('POST', `/vms/${source.vmId}/clone`, {
      name: 'linked',
      linked: true,
      snapshotId: snapshot.snapshotId,
    });
    expect(linked.origin).toMatchObject({ linked: true });
    expect(allocatedBytes(diskFile(linked))).toBeLessThan(1 * MiB);
    const frozen = (await qemuImgInfo(diskFile(linked)))['backing-filename'];
    expect(frozen).toBeDefined();
    expect(await reads(diskFile(linked), 0x44, 0, 2 * MiB)).toBe(true);

    // Writes to the clone stay in the clone.
    await writeThroughExport(linked.vmId, 0x55, 0, 1 * MiB);
    expect(await reads(layerFile(folder, frozen!.replace('.qcow2', '')), 0x44, 0, 1 * MiB)).toBe(
      true,
    );

    const refused = await stack.request<Problem>('DELETE', `/vms/${source.vmId}`);
    expect([refused.status, refused.body.code]).toEqual([422, 'VM.HAS_LINKED_CLONES']);
    expect(refused.body.errors!.map((e) => e.detail).join()).toContain(linked.vmId);
    const deleteSnapshot = await stack.request<Problem>(
      'DELETE',
      `/vms/${source.vmId}/snapshots/${snapshot.snapshotId}`,
    );
    expect([deleteSnapshot.status, deleteSnapshot.body.code]).toEqual([
      422,
      'SNAPSHOT.HAS_LINKED_CLONES',
    ]);

    await done('DELETE', `/vms/${linked.vmId}`);
    await stack.eventually(async () => (await vm(source.vmId)).linkedClones.length === 0);
    await done('DELETE', `/vms/${source.vmId}`);
  });

  it('refuses a host client (cloning is management-plane work), with the reason', async () => {
    const source = await newVm();
    const refused = await stack.request<Problem>('POST', `/vms/${source.vmId}/clone`, {
      role: 'host-client',
      body: { name: 'nope' },
    });
    expect([refused.status, refused.body.code]).toEqual([403, 'AUTH.ROLE_NOT_ALLOWED']);
    expect(refused.body.detail).toMatch(/host client runs power operations only/);
  });
});

describe('templates', () => {
  it('converts a VM to a template and back without touching its disk files', async () => {
    const source = await newVm();
    await writeThroughExport(source.vmId, 0x66, 0, 1 * MiB);
    const file = diskFile(await vm(source.vmId));
    const before = fingerprint(file);
    const template = await done('POST', `/vms/${source.vmId}/convert-to-template`);
    expect(template.role).toBe('template');
    expect(fingerprint(diskFile(template))).toEqual(before);
    const again = await done('POST', `/vms/${source.vmId}/convert-to-vm`);
    expect(again.role).toBe('vm');
    expect(fingerprint(file)).toEqual(before);
  });

  it('clones a VM to a template in the format chosen, clones the template, and deploys from it with overrides, powered on', async () => {
    const source = await newVm('thin', 40 * MiB);
    await writeThroughExport(source.vmId, 0x77, 0, 1 * MiB);
    const template = await done('POST', `/vms/${source.vmId}/clone-to-template`, {
      name: 'tpl-eager',
      format: 'thick-eager-zeroed',
    });
    expect(template).toMatchObject({ role: 'template', disks: [{ format: 'thick-eager-zeroed' }] });
    expect(allocatedBytes(diskFile(template))).toBeGreaterThanOrEqual(40 * MiB);
    const notOn = await stack.request<Problem>('POST', `/vms/${template.vmId}/power-on`);
    expect([notOn.status, notOn.body.code]).toEqual([409, 'VM.IS_TEMPLATE']);

    const copy = await done('POST', `/templates/${template.vmId}/clone`, {
      name: 'tpl-copy',
      format: 'thin',
    });
    expect(copy).toMatchObject({ role: 'template', disks: [{ format: 'thin' }] });

    const deployed = await done('POST', `/templates/${copy.vmId}/deploy`, {
      name: 'from-template',
      hardware: { vcpus: 4, memoryBytes: 128 * MiB },
      powerOn: true,
    });
    expect(deployed).toMatchObject({ role: 'vm', hardware: { vcpus: 4, memoryBytes: 128 * MiB } });
    expect(await reads(diskFile(deployed), 0x77, 0, 1 * MiB)).toBe(true);
    const on = await stack.eventually(async () => {
      const now = await vm(deployed.vmId);
      return now.powerState === 'poweredOn' && now;
    }, 60_000);
    expect(on.live!.exports).toHaveLength(1);

    const wrongKind = await stack.request<Problem>('POST', `/templates/${source.vmId}/deploy`, {
      body: { name: 'x' },
    });
    expect([wrongKind.status, wrongKind.body.code]).toEqual([409, 'VM.NOT_A_TEMPLATE']);
  });
});

describe('snapshots', () => {
  it('takes, lists, reverts to and deletes (consolidates) snapshots', async () => {
    const source = await newVm();
    await writeThroughExport(source.vmId, 0x01, 0, 1 * MiB);
    const first = await done('POST', `/vms/${source.vmId}/snapshots`, { name: 'one' });
    await writeThroughExport(source.vmId, 0x02, 0, 1 * MiB);
    const listed = expectStatus(
      await stack.request<{
        snapshots: { snapshotId: string; name: string }[];
        currentSnapshotId: string;
      }>('GET', `/vms/${source.vmId}/snapshots`),
      200,
    );
    expect(listed.snapshots.map((s) => s.name)).toEqual(['one']);
    const snapshotId = first.snapshots[0].snapshotId;

    const reverted = await done('POST', `/vms/${source.vmId}/snapshots/${snapshotId}/revert`);
    expect(await reads(diskFile(reverted), 0x01, 0, 1 * MiB)).toBe(true);

    const chainBefore = await stack.request<{ bytesPerLayer: unknown[] }>(
      'GET',
      `/vms/${source.vmId}/disks/${source.disks[0].diskId}/block-map`,
    );
    const deleted = await done('DELETE', `/vms/${source.vmId}/snapshots/${snapshotId}`);
    expect(deleted.snapshots).toEqual([]);
    expect(await reads(diskFile(deleted), 0x01, 0, 1 * MiB)).toBe(true);
    const chainAfter = await stack.eventually(async () => {
      const map = await stack.request<{ bytesPerLayer: unknown[] }>(
        'GET',
        `/vms/${source.vmId}/disks/${source.disks[0].diskId}/block-map`,
      );
      return map.body.bytesPerLayer.length < chainBefore.body.bytesPerLayer.length && map.body;
    });
    expect(chainAfter.bytesPerLayer).toHaveLength(1);
  });
});

describe('space and cancel', () => {
  it('refuses a clone the datastore cannot hold before writing anything, with the numbers', async () => {
    const small = await registerDatastore(stack, { capacityBytes: 256 * MiB });
    await workerServes(stack, small);
    const source = await done(
      'POST',
      '/vms',
      vmDefinition(hostId, small, undefined, [
        { capacityBytes: 160 * MiB, format: 'thick-lazy-zeroed' },
      ]),
    );
    const smallFolder = await datastoreFolderOf(stack, small);
    const before = images(smallFolder);
    const refused = await stack.request<Problem>('POST', `/vms/${source.vmId}/clone`, {
      body: { name: 'too-big' },
    });
    expect([refused.status, refused.body.code]).toEqual([422, 'DATASTORE.INSUFFICIENT_SPACE']);
    expect(refused.body.errors!.map((e) => e.code)).toContain('DATASTORE.CAPACITY_EXCEEDED');
    expect(
      refused.body.errors!.find((e) => e.code === 'DATASTORE.CAPACITY_EXCEEDED')!.detail,
    ).toMatch(/268435456 bytes/);
    expect(images(smallFolder)).toEqual(before);
  });

  it('never lets concurrent clones together overcommit a datastore', async () => {
    const shared = await registerDatastore(stack, { capacityBytes: 512 * MiB, overcommitRatio: 1 });
    await workerServes(stack, shared);
    const source = await done(
      'POST',
      '/vms',
      vmDefinition(hostId, shared, undefined, [
        { capacityBytes: 96 * MiB, format: 'thick-lazy-zeroed' },
      ]),
    );
    // Each thick copy claims 97 MiB: after the source, 4 fit in 512 MiB, 8 are asked for at once.
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        stack.request<Problem>('POST', `/vms/${source.vmId}/clone`, {
          body: { name: `race-${i}` },
        }),
      ),
    );
    expect(answers.filter((a) => a.status === 202)).toHaveLength(4);
    expect(
      answers
        .filter((a) => a.status === 422)
        .every((a) => a.body.code === 'DATASTORE.INSUFFICIENT_SPACE'),
    ).toBe(true);
    await stack.eventually(async () => {
      const again = await stack.database.pool.query(
        `SELECT count(*)::int AS n FROM jsonb_object_keys((SELECT state->'claims' FROM read_model.datastores WHERE datastore_id = $1))`,
        [shared],
      );
      return again.rows[0].n === 5;
    });
    const { rows } = await stack.database.pool.query(
      `SELECT sum((claim->>'physicalBytes')::bigint)::bigint AS claimed
         FROM read_model.datastores, jsonb_each(state->'claims') AS c(disk, claim) WHERE datastore_id = $1`,
      [shared],
    );
    expect(Number(rows[0].claimed)).toBeLessThanOrEqual(512 * MiB);
  });

  it('cancels a running clone and leaves nothing half-made', async () => {
    const source = await newVm('thin', 1024 * MiB);
    await writeThroughExport(source.vmId, 0x09, 0, 64 * MiB);
    const before = images(folder);
    const started = expectStatus(
      await stack.request<Accepted>('POST', `/vms/${source.vmId}/clone`, {
        body: { name: 'cancelled', format: 'thick-eager-zeroed' },
      }),
      202,
    );
    await stack.eventually(
      async () =>
        (await stack.request<{ status: string }>('GET', `/tasks/${started.taskId}`)).body.status ===
        'running',
    );
    expectStatus(await stack.request('POST', `/tasks/${started.taskId}/cancel`), 202);
    const task = await stack.eventually(async () => {
      const t = (
        await stack.request<{ status: string; error: { code: string } | null }>(
          'GET',
          `/tasks/${started.taskId}`,
        )
      ).body;
      return ['cancelled', 'succeeded', 'failed'].includes(t.status) && t;
    }, 120_000);
    expect(task.status).toBe('cancelled');
    // The clone's rows come from its own stream's partition, projected apart from the task's.
    await stack.eventually(
      async () => (await stack.request('GET', `/vms/${started.target.id}`)).status === 404,
    );
    expect(images(folder)).toEqual(before);
    expect(leftovers(folder)).toEqual([]);
    // The space the clone claimed went back.
    const { rows: queued } = await stack.database.pool.query(
      `SELECT data->'job'->'disks' AS disks FROM event_store.events WHERE stream_id = $1 AND type = 'TaskQueued'`,
      [`task-${started.taskId}`],
    );
    const cloneDisks = (queued[0].disks as { diskId: string }[]).map((d) => d.diskId);
    const { rows } = await stack.database.pool.query(
      `SELECT state->'claims' AS claims FROM read_model.datastores WHERE datastore_id = $1`,
      [datastoreId],
    );
    expect(Object.keys(rows[0].claims).filter((diskId) => cloneDisks.includes(diskId))).toEqual([]);
  });
});

describe('delete', () => {
  it('deletes a VM and its layer files', async () => {
    const victim = await newVm();
    const file = diskFile(victim);
    expect(images(folder)).toContain(file.split('/').pop());
    await done('DELETE', `/vms/${victim.vmId}`);
    expect(images(folder)).not.toContain(file.split('/').pop());
  });
});

describe('lineage', () => {
  interface Lineage {
    nodes: { vmId: string; derivesFrom: string | null; name: string; state: string }[];
  }
  const lineage = async (vmId: string, params = '') =>
    expectStatus(
      await stack.request<Lineage>('GET', `/vms/${vmId}/lineage${params}`, { role: 'auditor' }),
      200,
    ).nodes;

  type InventoryItem = { type: string; id: string; object: unknown };

  /** Every item of GET /inventory, walked three at a time. */
  const inventoryPages = async (params: string): Promise<InventoryItem[]> => {
    const items: InventoryItem[] = [];
    let cursor = '';
    for (;;) {
      const page = expectStatus(
        await stack.request<{ items: InventoryItem[]; nextCursor: string | null }>(
          'GET',
          `/inventory?limit=3${params}${cursor}`,
          { role: 'auditor' },
        ),
        200,
      );
      items.push(...page.items);
      if (!page.nextCursor) return items;
      cursor = `&cursor=${page.nextCursor}`;
    }
  };

  /** The same, from each kind's own listing. */
  const inventoryByKind = async (params: string): Promise<InventoryItem[]> => {
    const list = async <T>(path: string) =>
      expectStatus(
        await stack.request<{ items: T[] }>('GET', `${path}limit=500${params}`, {
          role: 'auditor',
        }),
        200,
      ).items;
    return [
      ...(await list<{ hostId: string }>('/hosts?')).map((o) => ({
        type: 'host',
        id: o.hostId,
        object: o,
      })),
      ...(await list<{ datastoreId: string }>('/datastores?')).map((o) => ({
        type: 'datastore',
        id: o.datastoreId,
        object: o,
      })),
      ...(await list<{ poolId: string }>('/pools?')).map((o) => ({
        type: 'pool',
        id: o.poolId,
        object: o,
      })),
      ...(
        await Promise.all(
          VM_ROLES.map(async (role) =>
            (await list<Vm>(`/vms?role=${role}&`)).map((o) => ({
              type: 'vm',
              id: o.vmId,
              object: o,
            })),
          ),
        )
      ).flat(),
    ];
  };

  it('follows clones up to the VM first made, past a deleted one, and down again, now or as of before', async () => {
    const source = await newVm();
    const snapped = await done('POST', `/vms/${source.vmId}/snapshots`, { name: 'golden' });
    const linked = await done('POST', `/vms/${source.vmId}/clone`, {
      name: 'linked',
      linked: true,
      snapshotId: snapped.snapshots[0].snapshotId,
    });
    const full = await done('POST', `/vms/${linked.vmId}/clone`, { name: 'full', format: 'thin' });
    const template = await done('POST', `/vms/${source.vmId}/clone-to-template`, {
      name: 'tpl-lineage',
      format: 'thin',
    });
    const { rows } = await stack.database.pool.query<{ position: string }>(
      `SELECT max(global_position)::text AS position FROM event_store.events`,
    );
    await done('DELETE', `/vms/${linked.vmId}`);

    expect(await lineage(full.vmId)).toEqual([
      expect.objectContaining({ vmId: full.vmId, derivesFrom: linked.vmId, state: 'present' }),
      expect.objectContaining({ vmId: linked.vmId, derivesFrom: source.vmId, state: 'deleted' }),
      expect.objectContaining({ vmId: source.vmId, derivesFrom: null, name: source.name }),
    ]);
    expect((await lineage(full.vmId, `?asOf=${rows[0].position}`))[1].state).toBe('present');
    // The inventory as it was then: the deleted clone is there, with its name.
    expect((await stack.request('GET', `/vms/${linked.vmId}`)).status).toBe(404);
    const then = await stack.request<Vm>('GET', `/vms/${linked.vmId}?asOf=${rows[0].position}`);
    expect([then.status, then.body.name]).toEqual([200, 'linked']);
    const snapshotsThen = await stack.request<{ snapshots: { name: string }[] }>(
      'GET',
      `/vms/${source.vmId}/snapshots?asOf=${rows[0].position}`,
    );
    expect([snapshotsThen.status, snapshotsThen.body.snapshots.map((s) => s.name)]).toEqual([
      200,
      ['golden'],
    ]);
    expect((await stack.request('GET', `/vms/${source.vmId}/snapshots?asOf=0`)).status).toBe(404);
    const listed = await stack.request<{ items: Vm[] }>(
      'GET',
      `/vms?asOf=${rows[0].position}&role=vm&limit=500`,
      { role: 'auditor' },
    );
    expect(listed.body.items.map((v) => v.vmId)).toEqual(
      expect.arrayContaining([linked.vmId, full.vmId, source.vmId]),
    );
    expect(listed.body.items.map((v) => v.vmId)).not.toContain(template.vmId);
    // Hosts and datastores too: as they were, and not before they were registered.
    const store = await stack.request<{ name: string }>(
      'GET',
      `/datastores/${datastoreId}?asOf=${rows[0].position}`,
    );
    expect(store.status).toBe(200);
    expect((await stack.request<{ items: unknown[] }>('GET', '/hosts?asOf=0')).body.items).toEqual(
      [],
    );
    expect((await stack.request('GET', `/hosts/${hostId}?asOf=0`)).status).toBe(404);
    expect((await stack.request<{ items: unknown[] }>('GET', '/pools?asOf=0')).body.items).toEqual(
      [],
    );
    const noPool = await stack.request<Problem>(
      'GET',
      `/pools/${uuidv7()}?asOf=${rows[0].position}`,
    );
    expect([noPool.status, noPool.body.code]).toEqual([404, 'POOL.NOT_FOUND']);
    expect((await stack.request('GET', `/hosts/${hostId}?asOf=${rows[0].position}`)).status).toBe(
      200,
    );
    const viaCli = JSON.parse(
      await adminCli(stack, '--json', '--as-of', rows[0].position, 'vms', 'get', linked.vmId),
    ) as Vm;
    expect(viaCli.name).toBe('linked');

    // A disk's lineage is its VM's; a layer's starts at the VM that wrote it: the source's
    // snapshot layer, on which the deleted linked clone stood (as of then).
    const fullDisk = full.disks[0];
    const diskLineage = expectStatus(
      await stack.request<{ vmId: string; nodes: { vmId: string }[] }>(
        'GET',
        `/disks/${fullDisk.diskId}/lineage`,
        { role: 'auditor' },
      ),
      200,
    );
    expect(diskLineage.nodes.map((node) => node.vmId)).toEqual([
      full.vmId,
      linked.vmId,
      source.vmId,
    ]);
    // The source's top layer before its snapshot: the snapshot froze it.
    const frozenLayer = source.disks[0].layerId!;
    const layerBelow = expectStatus(
      await stack.request<{ vmId: string; nodes: { vmId: string }[] }>(
        'GET',
        `/layers/${frozenLayer}/lineage?direction=descendants&asOf=${rows[0].position}`,
      ),
      200,
    );
    expect(layerBelow.vmId).toBe(source.vmId);
    expect(layerBelow.nodes.map((node) => node.vmId)).toEqual(
      expect.arrayContaining([source.vmId, linked.vmId, full.vmId]),
    );
    const viaCliLineage = JSON.parse(
      await adminCli(stack, '--json', 'lineage', 'disk', fullDisk.diskId),
    ) as { subject: { type: string } };
    expect(viaCliLineage.subject).toEqual({ type: 'disk', id: fullDisk.diskId });
    const noDisk = await stack.request<Problem>('GET', `/disks/${uuidv7()}/lineage`);
    expect([noDisk.status, noDisk.body.code]).toEqual([404, 'DISK.NOT_FOUND']);
    const hostileLayer = await stack.request<Problem>('GET', `/layers/..%2Fetc/lineage`);
    expect(hostileLayer.status).toBe(400);

    // The whole inventory in one listing, page by page, as then and now: each kind as its own
    // listing shows it, the deleted clone (with its disks and their layers) only as of then.
    for (const asOf of [`&asOf=${rows[0].position}`, '']) {
      const whole = await inventoryPages(asOf);
      expect(whole).toEqual(await inventoryByKind(asOf));
      expect(whole.some((item) => item.id === linked.vmId)).toBe(asOf !== '');
    }
    const linkedThen = (await inventoryPages(`&asOf=${rows[0].position}&kinds=vm`)).find(
      (item) => item.id === linked.vmId,
    )!.object as Vm;
    expect(linkedThen.disks.map((disk) => disk.layerId)).toEqual(
      then.body.disks.map((disk) => disk.layerId),
    );
    expect(linkedThen.disks.every((disk) => disk.layerId)).toBe(true);
    const listedByCli = JSON.parse(
      await adminCli(
        stack,
        '--json',
        '--as-of',
        rows[0].position,
        'inventory',
        'list',
        '--kinds',
        'vm',
        '--all',
      ),
    ) as InventoryItem[];
    expect(listedByCli.map((item) => item.id)).toContain(linked.vmId);
    const templates = await inventoryPages(`&kinds=template`);
    expect(templates.map((item) => item.id)).toContain(template.vmId);
    expect(templates.every((item) => (item.object as Vm).role === 'template')).toBe(true);
    const refused = await stack.request<Problem>('GET', '/inventory?kinds=vm,spaceship&limit=0');
    expect([refused.status, refused.body.errors?.map((e) => e.pointer).sort()]).toEqual([
      400,
      ['/query/kinds', '/query/limit'],
    ]);
    const first = await stack.request<{ nextCursor: string }>('GET', '/inventory?limit=1');
    const otherKinds = await stack.request<Problem>(
      'GET',
      `/inventory?kinds=pool&cursor=${first.body.nextCursor}`,
    );
    expect([otherKinds.status, otherKinds.body.code]).toEqual([400, 'REQUEST.BAD_CURSOR']);

    const below = await lineage(source.vmId, '?direction=descendants');
    expect(below.map((node) => [node.vmId, node.derivesFrom]).sort()).toEqual(
      [
        [source.vmId, null],
        [linked.vmId, source.vmId],
        [full.vmId, linked.vmId],
        [template.vmId, source.vmId],
      ].sort(),
    );

    const tree = await adminCli(stack, 'vms', 'lineage', full.vmId);
    expect(tree.split('\n').filter(Boolean)).toEqual([
      `${source.name} (vm, created) ${source.vmId}`,
      `└─ linked (vm, linked clone at snapshot "golden") ${linked.vmId} [deleted]`,
      `   └─ full (vm, full clone (thin)) ${full.vmId}`,
    ]);
    // What changed since then: the clone deleted; then a rename, field by field.
    await done('POST', `/vms/${full.vmId}/rename`, { name: 'full-renamed' });
    const diff = await stack.request<{
      deleted: { type: string; id: string; name: string }[];
      changed: { id: string; changes: { field: string; from: unknown; to: unknown }[] }[];
    }>('GET', `/inventory/diff?from=${rows[0].position}`, { role: 'auditor' });
    expect(diff.status).toBe(200);
    expect(diff.body.deleted).toContainEqual(
      expect.objectContaining({ type: 'vm', id: linked.vmId, name: 'linked' }),
    );
    expect(diff.body.changed.find((c) => c.id === full.vmId)?.changes).toContainEqual({
      field: '/name',
      from: 'full',
      to: 'full-renamed',
    });
    const told = await adminCli(stack, 'inventory', 'diff', '--from', rows[0].position);
    expect(told).toMatch(/Deleted[\s\S]*linked/);
    expect(told).toMatch(/\/name\s*│?\s*full\s*│?\s*full-renamed/);
  });

  it('says when there was no such VM, with every reason for a bad question', async () => {
    const unknown = await stack.request<Problem>('GET', `/vms/${uuidv7()}/lineage`);
    expect([unknown.status, unknown.body.code]).toEqual([404, 'VM.NOT_FOUND']);
    const bad = await stack.request<Problem>(
      'GET',
      `/vms/${uuidv7()}/lineage?direction=sideways&asOf=yesterday&limit=0`,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.errors!.map((e) => e.pointer)).toEqual(
      expect.arrayContaining(['/query/direction', '/query/asOf', '/query/limit']),
    );
  });
});
