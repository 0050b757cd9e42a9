import { DollyStack } from '@dolly/testing';
import {
  datastoreFolderOf,
  type Accepted,
  MiB,
  expectStatus,
  registerDatastore,
  registerHost,
  vmDefinition,
  wait,
  workerServes,
} from './support/inventory';
import { images, layerFile, qemuIo, reads, sameContent } from './support/disks';
import { type Desktop, type Pool } from './support/pools';
import { type Problem, type Vm, commandDone, getVm } from './support/vms';

jest.setTimeout(300_000);

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
/** The pool's read model and its VMs' are projected apart (other partitions): a VM catches up. */
async function runningVm(vmId: string): Promise<Vm> {
  let running: Vm | undefined;
  await stack.eventually(async () => {
    running = await vm(vmId);
    return running.live !== null && running.lifecycle === 'ready';
  }, 30_000);
  return running!;
}
/** A VM's deletion shows in its own read model, projected apart from the pool's: it catches up. */
async function goneFromReadModel(vmId: string): Promise<void> {
  await stack.eventually(
    async () => (await stack.request('GET', `/vms/${vmId}`)).status === 404,
    60_000,
  );
}
const diskUri = (v: Vm) => v.live!.exports[0].uri;
const memoryUri = (v: Vm) => v.live!.memoryImage.uri;

/** A VM with one 32 MiB disk holding 0x11 in its first 4 MiB, snapshotted: a golden image. */
async function goldenImage(): Promise<{ golden: Vm; snapshotId: string }> {
  const created = await done(
    'POST',
    '/vms',
    vmDefinition(hostId, datastoreId, undefined, [{ capacityBytes: 32 * MiB, format: 'thin' }]),
  );
  const running = await done('POST', `/vms/${created.vmId}/power-on`);
  await qemuIo(diskUri(running), 'write -P 0x11 0 4M');
  await done('POST', `/vms/${created.vmId}/power-off`);
  const golden = await done('POST', `/vms/${created.vmId}/snapshots`, { name: 'v1' });
  return { golden, snapshotId: golden.currentSnapshotId! };
}

async function pool(poolId: string): Promise<Pool> {
  return expectStatus(await stack.request<Pool>('GET', `/pools/${poolId}`), 200);
}

async function poolUntil(poolId: string, test: (p: Pool) => boolean): Promise<Pool> {
  let last: Pool | undefined;
  await stack.eventually(async () => {
    last = await pool(poolId);
    return test(last);
  }, 120_000);
  return last!;
}

async function entitle(poolId: string, userId: string) {
  return stack.request<Accepted & { result: Desktop }>('POST', `/pools/${poolId}/entitlements`, {
    body: { userId },
  });
}

/** The desktop an entitlement handed out (202: a change was made, even when a spare was ready). */
async function desktopFor(poolId: string, userId: string): Promise<Desktop> {
  const answer = await entitle(poolId, userId);
  if (answer.status !== 200 && answer.status !== 202)
    throw new Error(`entitlement: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body.result;
}

describe('instant clone of a running VM', () => {
  it('forks with no boot, shares disk and memory copy-on-write, keeps siblings apart, outlives its parent', async () => {
    const { golden, snapshotId } = await goldenImage();
    // The parent stands on the golden snapshot, as a pool's parent stands on its replica.
    const parentVm = await done('POST', `/vms/${golden.vmId}/clone`, {
      name: 'parent',
      linked: true,
      snapshotId,
    });
    const parent = await done('POST', `/vms/${parentVm.vmId}/power-on`);
    await qemuIo(diskUri(parent), 'write -P 0x22 4M 2M');
    await qemuIo(memoryUri(parent), 'write -P 0x2a 0 1M');

    const first = await done('POST', `/vms/${parent.vmId}/instant-clone`, { name: 'ic-1' });
    const second = await done('POST', `/vms/${parent.vmId}/instant-clone`, { name: 'ic-2' });
    for (const clone of [first, second]) {
      expect(clone).toMatchObject({
        role: 'instant-clone',
        powerState: 'poweredOn',
        lifecycle: 'ready',
        origin: { kind: 'fork', parentVmId: parent.vmId, replicaVmId: golden.vmId, poolId: null },
      });
      expect(clone.nics[0].macAddress).not.toBe(parent.nics[0].macAddress);
      // The parent's disk and memory, as they were at the fork.
      expect(await reads(diskUri(clone), 0x11, 0, 4 * MiB)).toBe(true);
      expect(await reads(diskUri(clone), 0x22, 4 * MiB, 2 * MiB)).toBe(true);
      expect(await reads(memoryUri(clone), 0x2a, 0, MiB)).toBe(true);
    }
    // The first fork froze the parent: it writes no more.
    const frozen = await vm(parent.vmId);
    expect(frozen.live!.exports.every((e) => !e.writable)).toBe(true);

    // A clone's writes are its own: not its sibling's, not the parent's.
    await qemuIo(diskUri(first), 'write -P 0x33 0 1M');
    await qemuIo(memoryUri(first), 'write -P 0x3a 0 1M');
    expect(await reads(diskUri(second), 0x11, 0, MiB)).toBe(true);
    expect(await reads(memoryUri(second), 0x2a, 0, MiB)).toBe(true);
    const parentTop = layerFile(folder, frozen.disks[0].layerId!);
    expect(await reads(parentTop, 0x11, 0, MiB)).toBe(true);
    const secondNow = await vm(second.vmId);
    expect(await sameContent(parentTop, layerFile(folder, secondNow.disks[0].layerId!))).toBe(true);
    expect(
      await sameContent(parentTop, layerFile(folder, (await vm(first.vmId)).disks[0].layerId!)),
    ).toBe(false);

    // The clones stand on the replica (here the golden image), not on the parent: it may go.
    expect((await vm(golden.vmId)).linkedClones).toEqual(
      expect.arrayContaining([parentVm.vmId, first.vmId, second.vmId]),
    );
    await done('POST', `/vms/${parent.vmId}/power-off`);
    await done('DELETE', `/vms/${parent.vmId}`);
    expect((await stack.request('GET', `/vms/${parent.vmId}`)).status).toBe(404);
    expect(await reads(diskUri(first), 0x33, 0, MiB)).toBe(true);
    expect(await reads(diskUri(second), 0x22, 4 * MiB, 2 * MiB)).toBe(true);
    expect(await reads(memoryUri(second), 0x2a, 0, MiB)).toBe(true);
    const refused = await stack.request<Problem>('DELETE', `/vms/${golden.vmId}`);
    expect([refused.status, refused.body.code]).toEqual([422, 'VM.HAS_LINKED_CLONES']);
    // Forked by hand, the clones are their maker's to delete; then the golden image can go too.
    for (const clone of [first, second]) {
      await done('POST', `/vms/${clone.vmId}/power-off`);
      await done('DELETE', `/vms/${clone.vmId}`);
    }
    await stack.eventually(async () => (await vm(golden.vmId)).linkedClones.length === 0, 30_000);
    await done('DELETE', `/vms/${golden.vmId}`);
  });

  it('refuses to fork from a powered-off VM or a template, with a stable code', async () => {
    const { golden } = await goldenImage();
    const off = await stack.request<Problem>('POST', `/vms/${golden.vmId}/instant-clone`, {
      body: { name: 'nope' },
    });
    expect([off.status, off.body.code]).toEqual([409, 'FORK.SOURCE_POWERED_OFF']);
    const template = await done('POST', `/vms/${golden.vmId}/clone-to-template`, { name: 't' });
    const fromTemplate = await stack.request<Problem>(
      'POST',
      `/vms/${template.vmId}/instant-clone`,
      { body: { name: 'nope' } },
    );
    expect([fromTemplate.status, fromTemplate.body.code]).toEqual([409, 'FORK.SOURCE_IS_TEMPLATE']);
  });
});

describe('desktop pools', () => {
  async function createPool(body: Record<string, unknown>): Promise<Pool> {
    const created = await stack.request<Accepted & { resource: Pool }>('POST', '/pools', {
      body: { hostId, datastoreId, ...body },
      headers: wait(120),
    });
    expect(created.status).toBe(201);
    return created.body.resource!;
  }

  it('builds the chain, keeps spares, hands each user one desktop, deletes floating ones at logoff, and cleans up', async () => {
    const before = images(folder);
    const { golden, snapshotId } = await goldenImage();
    const imagesWithGolden = images(folder);
    const claimed = async () =>
      Number(
        (
          await stack.database.pool.query(
            'SELECT claimed_physical_bytes FROM read_model.datastores WHERE datastore_id = $1',
            [datastoreId],
          )
        ).rows[0].claimed_physical_bytes,
      );
    const claimedBefore = await claimed();
    const created = await createPool({
      name: 'sales',
      goldenVmId: golden.vmId,
      snapshotId,
      namingPattern: 'sales-{n:fixed=2}',
      maxMachines: 3,
      spareMachines: 2,
      provisioning: 'on-demand',
      assignment: 'floating',
    });
    expect(created.imageStatus).toBe('published');
    const { image } = created;
    for (const [vmId, role] of [
      [image.templateVmId, 'internal-template'],
      [image.replicas[0].replicaVmId, 'replica'],
      [image.parents[0].parentVmId, 'parent'],
    ]) {
      expect((await vm(vmId)).role).toBe(role);
    }
    expect((await runningVm(image.parents[0].parentVmId)).powerState).toBe('poweredOn');
    const listed = expectStatus(
      await stack.request<{ items: Vm[] }>('GET', '/vms?role=replica&limit=200'),
      200,
    );
    expect(listed.items.map((v) => v.vmId)).toContain(image.replicas[0].replicaVmId);
    const protectedReplica = await stack.request<Problem>(
      'DELETE',
      `/vms/${image.replicas[0].replicaVmId}`,
    );
    expect([protectedReplica.status, protectedReplica.body.code]).toEqual([
      409,
      'VM.MANAGED_BY_POOL',
    ]);

    const spares = await poolUntil(created.poolId, (p) => p.counts.spares === 2);
    expect(spares.machines.map((m) => m.name)).toEqual(['sales-01', 'sales-02']);
    for (const machine of spares.machines) {
      const desktop = await runningVm(machine.vmId);
      expect(desktop.origin).toMatchObject({
        kind: 'fork',
        replicaVmId: image.replicas[0].replicaVmId,
      });
      expect(await reads(diskUri(desktop), 0x11, 0, 4 * MiB)).toBe(true);
    }

    const ann = await desktopFor(created.poolId, 'ann');
    expect(ann).toMatchObject({ status: 'ready', taskId: null });
    expect(spares.machines.map((m) => m.vmId)).toContain(ann.vmId);
    const again = expectStatus(await entitle(created.poolId, 'ann'), 200);
    expect([again.changed, again.result.vmId]).toEqual([false, ann.vmId]);
    const bob = await desktopFor(created.poolId, 'bob');
    const cy = await desktopFor(created.poolId, 'cy');
    const full = await stack.request<Problem>('POST', `/pools/${created.poolId}/entitlements`, {
      body: { userId: 'dave' },
    });
    expect([full.status, full.body.code]).toEqual([409, 'POOL.AT_MAXIMUM']);
    const desktops = new Set([ann.vmId, bob.vmId, cy.vmId]);
    expect(desktops.size).toBe(3);

    await poolUntil(created.poolId, (p) => p.counts.provisioning === 0);
    const loggedOff = await stack.request<Accepted>(
      'POST',
      `/pools/${created.poolId}/machines/${ann.vmId}/logoff`,
      { headers: wait(120) },
    );
    expect(loggedOff.body.task?.status).toBe('succeeded');
    await stack.eventually(
      async () => (await stack.request('GET', `/vms/${ann.vmId}`)).status === 404,
      30_000,
    );
    const refilled = await poolUntil(
      created.poolId,
      (p) => p.counts.spares === 1 && p.counts.machines === 3,
    );
    expect(refilled.machines.find((m) => m.userId === 'ann')).toBeUndefined();

    expectStatus(await stack.request('DELETE', `/pools/${created.poolId}`), 202);
    await stack.eventually(
      async () => (await stack.request('GET', `/pools/${created.poolId}`)).status === 404,
      120_000,
    );
    for (const vmId of [
      image.templateVmId,
      image.replicas[0].replicaVmId,
      image.parents[0].parentVmId,
      ...desktops,
    ]) {
      await goneFromReadModel(vmId);
    }
    await stack.eventually(async () => (await vm(golden.vmId)).linkedClones.length === 0, 30_000);
    // Every byte the pool claimed is back, and every layer the pool made is gone from the datastore.
    await stack.eventually(async () => (await claimed()) === claimedBefore, 30_000);
    await stack.eventually(async () => images(folder).length === imagesWithGolden.length, 30_000);
    expect(images(folder).filter((name) => !before.includes(name))).toHaveLength(
      imagesWithGolden.length - before.length,
    );
  });

  it('stands on two hosts and two datastores: a replica on each datastore, a parent per host and datastore, desktops spread and apart', async () => {
    const secondHost = await registerHost(stack);
    const secondStore = await registerDatastore(stack);
    const secondFolder = await datastoreFolderOf(stack, secondStore);
    await workerServes(stack, secondStore);
    const { golden, snapshotId } = await goldenImage();
    const claimedOn = async (id: string) =>
      Number(
        (
          await stack.database.pool.query(
            'SELECT claimed_physical_bytes FROM read_model.datastores WHERE datastore_id = $1',
            [id],
          )
        ).rows[0].claimed_physical_bytes,
      );
    const secondBefore = images(secondFolder);
    const created = await createPool({
      name: 'sites',
      goldenVmId: golden.vmId,
      snapshotId,
      hostIds: [hostId, secondHost],
      datastoreIds: [datastoreId, secondStore],
      hostId: undefined,
      datastoreId: undefined,
      namingPattern: 'site-{n}',
      maxMachines: 6,
      spareMachines: 4,
      provisioning: 'on-demand',
      assignment: 'floating',
    });
    const { image } = created;
    expect(image.replicas.map((r) => r.datastoreId)).toEqual([datastoreId, secondStore]);
    expect(image.parents.map((p) => `${p.hostId}/${p.datastoreId}`).sort()).toEqual(
      [hostId, secondHost]
        .flatMap((h) => [datastoreId, secondStore].map((d) => `${h}/${d}`))
        .sort(),
    );
    for (const replica of image.replicas) {
      expect(await vm(replica.replicaVmId)).toMatchObject({
        role: 'replica',
        datastoreId: replica.datastoreId,
      });
    }
    for (const parent of image.parents) {
      const running = await runningVm(parent.parentVmId);
      expect(running).toMatchObject({
        role: 'parent',
        hostId: parent.hostId,
        datastoreId: parent.datastoreId,
      });
    }
    // The second datastore holds its own replica's copy, claimed on it.
    expect(await claimedOn(secondStore)).toBeGreaterThan(4 * MiB);

    const spares = await poolUntil(created.poolId, (p) => p.counts.spares === 4);
    expect(new Set(spares.machines.map((m) => m.parentVmId))).toEqual(
      new Set(image.parents.map((p) => p.parentVmId)),
    );
    const desktops: Vm[] = [];
    for (const machine of spares.machines) {
      const parent = image.parents.find((p) => p.parentVmId === machine.parentVmId)!;
      const replica = image.replicas.find((r) => r.datastoreId === parent.datastoreId)!;
      const desktop = await runningVm(machine.vmId);
      expect(desktop).toMatchObject({
        hostId: parent.hostId,
        datastoreId: parent.datastoreId,
        origin: { kind: 'fork', parentVmId: parent.parentVmId, replicaVmId: replica.replicaVmId },
      });
      expect(await reads(diskUri(desktop), 0x11, 0, 4 * MiB)).toBe(true);
      desktops.push(desktop);
    }
    // A desktop's writes stay its own, on either datastore.
    const [first, ...others] = desktops;
    await qemuIo(diskUri(first), 'write -P 0x22 0 1M');
    expect(await reads(diskUri(first), 0x22, 0, 1 * MiB)).toBe(true);
    for (const other of others) expect(await reads(diskUri(other), 0x11, 0, 4 * MiB)).toBe(true);
    const ann = await desktopFor(created.poolId, 'ann');
    expect(spares.machines.map((m) => m.vmId)).toContain(ann.vmId);

    expectStatus(await stack.request('DELETE', `/pools/${created.poolId}`), 202);
    await stack.eventually(
      async () => (await stack.request('GET', `/pools/${created.poolId}`)).status === 404,
      120_000,
    );
    const made = [
      image.templateVmId,
      ...image.replicas.map((r) => r.replicaVmId),
      ...image.parents.map((p) => p.parentVmId),
      ...desktops.map((d) => d.vmId),
    ];
    for (const vmId of made) await goneFromReadModel(vmId);
    // Nothing of the pool is left on the second datastore: its space and its files are back.
    await stack.eventually(async () => (await claimedOn(secondStore)) === 0, 30_000);
    await stack.eventually(async () => images(secondFolder).length === secondBefore.length, 30_000);
  });

  it('never hands one desktop to two users under concurrent requests', async () => {
    const { golden, snapshotId } = await goldenImage();
    const created = await createPool({
      name: 'rush',
      goldenVmId: golden.vmId,
      snapshotId,
      namingPattern: 'rush-{n}',
      maxMachines: 12,
      spareMachines: 3,
      provisioning: 'on-demand',
      assignment: 'floating',
    });
    await poolUntil(created.poolId, (p) => p.counts.spares === 3);
    const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    const answers = await Promise.all(users.map((user) => entitle(created.poolId, user)));
    expect(answers.map((a) => a.status).every((s) => s === 200 || s === 202)).toBe(true);
    const given = answers.map((a) => a.body.result.vmId);
    expect(new Set(given).size).toBe(users.length);
    // Answered before the pool's row shows them (202): settled once it does and no fork is left.
    const entitledAt = Math.max(...answers.map((a) => a.body.target.version));
    const settled = await poolUntil(
      created.poolId,
      (p) => p.version >= entitledAt && p.counts.provisioning === 0,
    );
    // Every fork succeeded (a failed one would leave its user without a desktop): said with why.
    const { rows: failedForks } = await stack.database.pool.query<{ data: unknown }>(
      `SELECT data FROM event_store.events WHERE stream_id = $1 AND type = 'PoolMachineFailed'`,
      [`pool-${created.poolId}`],
    );
    expect(failedForks.map((row) => row.data)).toEqual([]);
    for (const user of users) {
      expect(settled.machines.filter((m) => m.userId === user)).toHaveLength(1);
    }
    expect(settled.counts.machines).toBe(12);
  });

  it('refreshes a dedicated desktop at logoff: back to the replica’s state, same name, MAC and user', async () => {
    const { golden, snapshotId } = await goldenImage();
    const created = await createPool({
      name: 'dedicated',
      goldenVmId: golden.vmId,
      snapshotId,
      namingPattern: 'dd-{n}',
      maxMachines: 2,
      spareMachines: 1,
      provisioning: 'on-demand',
      assignment: 'dedicated',
    });
    await poolUntil(created.poolId, (p) => p.counts.spares === 1);
    const ann = await desktopFor(created.poolId, 'ann');
    const before = await runningVm(ann.vmId);
    await qemuIo(diskUri(before), 'write -P 0x77 0 1M');
    await qemuIo(memoryUri(before), 'write -P 0x78 0 1M');
    const refreshed = await stack.request<Accepted>(
      'POST',
      `/pools/${created.poolId}/machines/${ann.vmId}/logoff`,
      { headers: wait(120) },
    );
    expect(refreshed.body.task?.status).toBe('succeeded');
    const after = await vm(ann.vmId);
    expect([after.name, after.nics[0].macAddress, after.powerState]).toEqual([
      before.name,
      before.nics[0].macAddress,
      'poweredOn',
    ]);
    expect(await reads(diskUri(after), 0x11, 0, MiB)).toBe(true);
    expect(await reads(memoryUri(after), 0x78, 0, MiB)).toBe(false);
    expect((await pool(created.poolId)).machines.find((m) => m.vmId === ann.vmId)?.userId).toBe(
      'ann',
    );
  });

  it('refuses a pool whose host cannot run the golden image and whose datastore cannot hold the replica, with every reason', async () => {
    const { golden, snapshotId } = await goldenImage();
    const oldHost = await registerHost(stack, { maxHardwareVersion: 'vmx-15' });
    const tiny = await registerDatastore(stack, { capacityBytes: 4 * MiB });
    // The worker restarts its engine to serve it: done here, not under the next test's VMs.
    await workerServes(stack, tiny);
    const refused = await stack.request<Problem>('POST', '/pools', {
      body: {
        name: 'nowhere',
        goldenVmId: golden.vmId,
        snapshotId,
        hostId: oldHost,
        datastoreId: tiny,
        namingPattern: 'nw-{n}',
        maxMachines: 2,
        spareMachines: 1,
        provisioning: 'on-demand',
        assignment: 'floating',
      },
    });
    expect([refused.status, refused.body.code]).toEqual([422, 'POOL.REFUSED']);
    expect(refused.body.errors!.map((e) => e.code)).toEqual(
      expect.arrayContaining(['HOST.HARDWARE_VERSION_UNSUPPORTED', 'DATASTORE.CAPACITY_EXCEEDED']),
    );
    // The bad host among good ones is named once, whatever the datastores; no host at all is said too.
    const amongGood = await stack.request<Problem>('POST', '/pools', {
      body: {
        name: 'some-good',
        goldenVmId: golden.vmId,
        snapshotId,
        hostIds: [hostId, oldHost],
        datastoreIds: [datastoreId, tiny],
        namingPattern: 'sg-{n}',
        maxMachines: 2,
        spareMachines: 1,
        provisioning: 'on-demand',
        assignment: 'floating',
      },
    });
    expect(amongGood.status).toBe(422);
    expect(
      amongGood.body.errors!.filter((e) => e.code === 'HOST.HARDWARE_VERSION_UNSUPPORTED'),
    ).toHaveLength(1);
    const nowhere = await stack.request<Problem>('POST', '/pools', {
      body: {
        name: 'no-host',
        goldenVmId: golden.vmId,
        snapshotId,
        datastoreIds: [datastoreId],
        namingPattern: 'nh-{n}',
        maxMachines: 2,
        spareMachines: 1,
        provisioning: 'on-demand',
        assignment: 'floating',
      },
    });
    expect([nowhere.status, nowhere.body.errors?.map((e) => e.code)]).toEqual([
      422,
      ['POOL.NO_SITES'],
    ]);
  });

  it('pushes a new image: spares replaced at once, a desktop in use (its writer running) at logoff, the old chain removed, and rolls back', async () => {
    const { golden, snapshotId: v1 } = await goldenImage();
    const created = await createPool({
      name: 'pushed',
      goldenVmId: golden.vmId,
      snapshotId: v1,
      namingPattern: 'pu-{n}',
      maxMachines: 3,
      spareMachines: 1,
      provisioning: 'on-demand',
      assignment: 'dedicated',
    });
    const firstImage = created.image;
    await poolUntil(created.poolId, (p) => p.counts.spares === 1);
    const ann = await desktopFor(created.poolId, 'ann');
    const annBefore = await runningVm(ann.vmId);
    const oldSpare = (
      await poolUntil(created.poolId, (p) => p.counts.spares === 1 && p.counts.assigned === 1)
    ).machines.find((m) => m.userId === null)!;

    // The golden image moves on: 0x33 in its first MiB, snapshot v2.
    await done('POST', `/vms/${golden.vmId}/power-on`);
    await qemuIo(diskUri(await vm(golden.vmId)), 'write -P 0x33 0 1M');
    await done('POST', `/vms/${golden.vmId}/power-off`);
    const v2 = (await done('POST', `/vms/${golden.vmId}/snapshots`, { name: 'v2' }))
      .currentSnapshotId!;

    // ann works on her desktop all through the push.
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        await qemuIo(diskUri(annBefore), `write -P 0x55 ${8 * MiB} ${MiB}`);
        writes++;
      }
    })();
    const pushed = await stack.request<Accepted>('POST', `/pools/${created.poolId}/image`, {
      body: { goldenVmId: golden.vmId, snapshotId: v2 },
      headers: wait(120),
    });
    const rolled = await poolUntil(
      created.poolId,
      (p) =>
        p.image.snapshotId === v2 &&
        p.counts.outdated === 1 &&
        p.counts.spares === 1 &&
        p.machines.length === 2,
    ).finally(async () => {
      writing = false;
      await writer;
    });
    expect(pushed.body.task?.status).toBe('succeeded');
    expect(writes).toBeGreaterThan(0);
    expect(rolled.previousImage?.taskId).toBe(firstImage.taskId);
    // The old spare is gone, its replacement reads the new image; ann keeps her old desktop, as she left it.
    expect(rolled.machines.map((m) => m.vmId)).not.toContain(oldSpare.vmId);
    const newSpare = rolled.machines.find((m) => m.userId === null)!;
    expect(newSpare.outdated).toBe(false);
    expect(await reads(diskUri(await runningVm(newSpare.vmId)), 0x33, 0, MiB)).toBe(true);
    expect(rolled.machines.find((m) => m.userId === 'ann')).toMatchObject({
      vmId: ann.vmId,
      outdated: true,
    });
    expect(await reads(diskUri(annBefore), 0x11, 0, MiB)).toBe(true);
    expect(await reads(diskUri(annBefore), 0x55, 8 * MiB, MiB)).toBe(true);
    // The old parent went at once (no fork of it runs); its replica stays under ann's desktop.
    await stack.eventually(
      async () =>
        (await stack.request('GET', `/vms/${firstImage.parents[0].parentVmId}`)).status === 404,
      30_000,
    );
    expect((await stack.request('GET', `/vms/${firstImage.replicas[0].replicaVmId}`)).status).toBe(
      200,
    );

    // At logoff ann's desktop is refreshed onto the new image: re-forked, same name and MAC.
    const loggedOff = await stack.request<Accepted>(
      'POST',
      `/pools/${created.poolId}/machines/${ann.vmId}/logoff`,
      { headers: wait(120) },
    );
    expect(loggedOff.body.task?.status).toBe('succeeded');
    const moved = await poolUntil(
      created.poolId,
      (p) =>
        p.counts.outdated === 0 &&
        p.machines.some((m) => m.userId === 'ann' && m.status === 'ready'),
    );
    const annNow = moved.machines.find((m) => m.userId === 'ann')!;
    expect(annNow.vmId).not.toBe(ann.vmId);
    const annAfter = await runningVm(annNow.vmId);
    expect([annAfter.name, annAfter.nics[0].macAddress]).toEqual([
      annBefore.name,
      annBefore.nics[0].macAddress,
    ]);
    expect(await reads(diskUri(annAfter), 0x33, 0, MiB)).toBe(true);
    expect(await reads(diskUri(annAfter), 0x55, 8 * MiB, MiB)).toBe(false);
    // No machine stands on the first image now: its replica and internal template are removed.
    for (const vmId of [ann.vmId, firstImage.replicas[0].replicaVmId, firstImage.templateVmId]) {
      await goneFromReadModel(vmId);
    }

    // Roll back: the first snapshot again, this time logging desktops off at once.
    const rolledBack = await stack.request<Accepted>(
      'POST',
      `/pools/${created.poolId}/image/rollback`,
      { body: { rollout: 'immediate' }, headers: wait(120) },
    );
    expect(rolledBack.body.task?.status).toBe('succeeded');
    const back = await poolUntil(
      created.poolId,
      (p) =>
        p.image.snapshotId === v1 &&
        p.counts.outdated === 0 &&
        p.counts.spares === 1 &&
        p.machines.some((m) => m.userId === 'ann' && m.status === 'ready'),
    );
    for (const machine of back.machines) {
      expect(await reads(diskUri(await runningVm(machine.vmId)), 0x11, 0, MiB)).toBe(true);
    }
    const second = await stack.request<Problem>('POST', `/pools/${created.poolId}/image`, {
      body: { goldenVmId: golden.vmId, snapshotId: golden.vmId },
    });
    expect([second.status, second.body.code]).toEqual([422, 'POOL.REFUSED']);
    expect(second.body.errors!.map((e) => e.code)).toContain('SNAPSHOT.NOT_FOUND');
  });

  it('starts a scheduled push at its time, and a cancelled schedule never', async () => {
    const { golden, snapshotId: v1 } = await goldenImage();
    const created = await createPool({
      name: 'scheduled',
      goldenVmId: golden.vmId,
      snapshotId: v1,
      namingPattern: 'sc-{n}',
      maxMachines: 2,
      spareMachines: 1,
      provisioning: 'on-demand',
      assignment: 'floating',
    });
    const v2 = (await done('POST', `/vms/${golden.vmId}/snapshots`, { name: 'v2' }))
      .currentSnapshotId!;
    const schedule = (seconds: number) =>
      stack.request<Accepted>('POST', `/pools/${created.poolId}/image`, {
        body: {
          goldenVmId: golden.vmId,
          snapshotId: v2,
          startAt: new Date(Date.now() + seconds * 1000).toISOString(),
        },
        headers: wait(10),
      });
    expect((await schedule(3600)).status).toBe(200);
    expect((await pool(created.poolId)).scheduledPush?.snapshotId).toBe(v2);
    const twice = await schedule(3600);
    expect([twice.status, (twice.body as unknown as Problem).code]).toEqual([
      409,
      'POOL.PUSH_SCHEDULED',
    ]);
    expectStatus(
      await stack.request('DELETE', `/pools/${created.poolId}/image/schedule`, {
        headers: wait(10),
      }),
      200,
    );
    expect((await pool(created.poolId)).scheduledPush).toBeNull();

    expect((await schedule(2)).status).toBe(200);
    const pushed = await poolUntil(
      created.poolId,
      (p) => p.image.snapshotId === v2 && p.push === null && p.counts.outdated === 0,
    );
    expect(pushed.scheduledPush).toBeNull();
    expect(pushed.previousImage?.snapshotId).toBe(v1);
  });
});
