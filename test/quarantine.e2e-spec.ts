import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { copyFile, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { QemuDiskEngine } from '@dolly/disk-engine';
import { DollyStack } from '@dolly/testing';
import {
  type Accepted,
  adminCli,
  datastoreEventCount,
  GiB,
  createVm,
  datastoreFolderOf,
  expectStatus,
  registerDatastore,
  registerHost,
  wait,
  workerServes,
} from './support/inventory';

/**
 * A layer check quarantined can be restored through the API, by an admin only, and only once it
 * is sound again: a worker serving its datastore checks it again (qemu-img, a regular file, no
 * symlink) as a task with progress. Still broken (or a symlink put in its place), the task fails
 * with the reason and nothing changes; repaired, the datastore records it taken back
 * (DatastoreLayerRestored), the quarantine list no longer shows it and its disk serves again.
 * Hostile names, roles, datastores are refused before anything reaches a worker.
 */

jest.setTimeout(300_000);

let stack: DollyStack;
let hostId: string;

/**
 * The worker's qemu-img: the real one, held back while the hold file exists (a restore caught
 * checking the layer again, to cancel it there; the worker kills the held one on cancel).
 */
const qemuImgDir = mkdtempSync(join(tmpdir(), 'dq-img-'));
const hold = join(qemuImgDir, 'hold');

beforeAll(async () => {
  const heldQemuImg = join(qemuImgDir, 'qemu-img-held');
  writeFileSync(
    heldQemuImg,
    `#!/bin/sh\nwhile [ -e '${hold}' ]; do sleep 0.05; done\nexec qemu-img "$@"\n`,
    { mode: 0o755 },
  );
  stack = await DollyStack.start(['api', 'projector', 'worker'], {
    DOLLY_WORKER_DATASTORE_RETRY_MIN_MS: '200',
    DOLLY_WORKER_DATASTORE_RETRY_MAX_MS: '800',
    DOLLY_QEMU_IMG: heldQemuImg,
  });
  hostId = await registerHost(stack);
}, 120_000);
afterAll(async () => {
  rmSync(hold, { force: true });
  await stack?.stop();
  rmSync(qemuImgDir, { recursive: true, force: true });
});

type Quarantine = {
  datastoreId: string;
  observed: boolean;
  entries: { kind: string; entry: string; diskIds: string[]; restorable: boolean }[];
};
type Problem = { code: string; detail?: string };

const quarantineOf = async (datastoreId: string) =>
  expectStatus(
    await stack.request<Quarantine>('GET', `/datastores/${datastoreId}/quarantine`),
    200,
  );

const restore = (
  datastoreId: string,
  entry: string,
  options: Parameters<DollyStack['request']>[2] = {},
) =>
  stack.request<Accepted & Problem>(
    'POST',
    `/datastores/${datastoreId}/quarantine/${entry}/restore`,
    options,
  );

/** A qcow2 header's version field (4 bytes at offset 4): 99 is one QEMU refuses for sure. */
async function swapVersion(path: string, bytes: Buffer): Promise<Buffer> {
  const handle = await open(path, 'r+');
  try {
    const before = Buffer.alloc(4);
    await handle.read(before, 0, 4, 4);
    await handle.write(bytes, 0, 4, 4);
    return before;
  } finally {
    await handle.close();
  }
}

it('restores a quarantined layer once it is sound, for admins only, refusing hostile requests', async () => {
  const datastoreId = await registerDatastore(stack);
  const bad = await registerDatastore(stack);
  await workerServes(stack, datastoreId);
  await workerServes(stack, bad);
  const folder = await datastoreFolderOf(stack, datastoreId);
  const vmId = await createVm(stack, hostId, datastoreId, [{ capacityBytes: GiB, format: 'thin' }]);
  const vm = expectStatus(
    await stack.request<{ disks: { diskId: string }[] }>('GET', `/vms/${vmId}`),
    200,
  );
  const [layerFile] = readdirSync(folder).filter((name) => name.endsWith('.qcow2'));
  const layerId = layerFile.replace(/\.qcow2$/, '');
  const layerPath = join(folder, layerFile);

  // With the worker stopped: the disk's layer header breaks (a version QEMU refuses), an image no
  // layer names appears, and the other datastore's metadata lock becomes a folder (inaccessible).
  // The engine's deep check (as an operator runs it) finds the broken layer and quarantines it.
  await stack.kill('worker');
  const goodVersion = await swapVersion(layerPath, Buffer.from([0, 0, 0, 99]));
  writeFileSync(join(folder, 'stray.qcow2'), 'not a layer of this datastore');
  const runtimeDir = mkdtempSync(join(tmpdir(), 'dq-'));
  const { engine } = await QemuDiskEngine.start({
    datastores: [{ datastoreId, path: folder }],
    runtimeDir,
    restartDaemon: false,
  });
  try {
    const report = await engine.check({ operationId: 'test-deep-check', repair: true });
    expect(report.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ subject: layerId, action: 'quarantined' }),
      ]),
    );
  } finally {
    await engine.stop();
    rmSync(runtimeDir, { recursive: true, force: true });
  }
  const lock = join(await datastoreFolderOf(stack, bad), '.dolly', 'lock');
  rmSync(lock, { force: true });
  mkdirSync(lock);
  await stack.startApp('worker');

  // The worker reports what check moved aside.
  const seen = await stack
    .eventually(async () => {
      const list = await quarantineOf(datastoreId);
      return list.entries.some((e) => e.kind === 'layer') && list;
    }, 60_000)
    .catch((error) => {
      console.log(
        stack
          .logs('worker')
          .filter((l) => /engine|check|quarantin|error|serving/i.test(l))
          .slice(-40)
          .join('\n'),
      );
      throw error;
    });
  expect(seen.entries).toEqual([
    expect.objectContaining({
      kind: 'layer',
      entry: layerId,
      diskIds: [vm.disks[0].diskId],
      restorable: true,
    }),
    expect.objectContaining({ kind: 'file', entry: expect.stringMatching(/-stray\.qcow2$/) }),
  ]);
  const strayEntry = seen.entries[1].entry;
  // The CLI lists it alike, and a restore of a name not in the list fails with the reason.
  const listed = await adminCli(stack, 'datastores', 'quarantine', 'list', datastoreId);
  expect(listed.split('\n').find((line) => line.includes(layerId))).toMatch(/layer.*yes/);
  expect(listed.split('\n').find((line) => line.includes(strayEntry))).toMatch(/file.*no/);
  await expect(
    adminCli(stack, 'datastores', 'quarantine', 'restore', datastoreId, 'no-such-layer'),
  ).rejects.toMatchObject({ stderr: expect.stringContaining('QUARANTINE.NOT_FOUND') });
  await workerServes(stack, datastoreId);

  // Admin only: every other role is refused with the reason, and nothing is queued.
  for (const role of ['operator', 'auditor', 'host-client'] as const) {
    const refused = await restore(datastoreId, layerId, { role });
    expect([role, refused.status, refused.body.code]).toEqual([role, 403, 'AUTH.ROLE_NOT_ALLOWED']);
  }
  const noToken = await restore(datastoreId, layerId, { role: null });
  expect(noToken.status).toBe(401);

  // Hostile names. `..` (also as %2E%2E) is resolved by the URL itself: no such route (404).
  for (const entry of ['..', '%2E%2E'])
    expect([entry, (await restore(datastoreId, entry)).status]).toEqual([entry, 404]);
  // An encoded slash, a leading dot, a NUL, an overlong name reach the route: not a layer's name.
  for (const entry of [
    '..%2F..%2Fetc%2Fpasswd',
    `${layerId}%2F..`,
    '%2Fetc%2Fpasswd',
    '.dolly',
    'a..b',
    `${layerId}%00`,
    'x'.repeat(256),
  ]) {
    const answer = await restore(datastoreId, entry);
    expect([entry, answer.status, answer.body.code]).toEqual([
      entry,
      400,
      expect.stringMatching(/^REQUEST\./),
    ]);
  }
  // A name that is no entry of the quarantine; a file moved aside (not a layer).
  const unknown = await restore(datastoreId, 'no-such-layer');
  expect([unknown.status, unknown.body.code]).toEqual([404, 'QUARANTINE.NOT_FOUND']);
  const file = await restore(datastoreId, strayEntry);
  expect([file.status, file.body.code]).toEqual([409, 'QUARANTINE.NOT_RESTORABLE']);
  // Datastores: not a uuid, unknown, inaccessible.
  expect((await restore('not-a-uuid', layerId)).status).toBe(400);
  const absent = await restore('0190f3a0-0000-7000-8000-0000000000ff', layerId);
  expect([absent.status, absent.body.code]).toEqual([404, 'DATASTORE.NOT_FOUND']);
  await stack.eventually(
    async () =>
      (
        await stack.database.pool.query<{ accessibility: string }>(
          'SELECT accessibility FROM read_model.datastores WHERE datastore_id = $1',
          [bad],
        )
      ).rows[0].accessibility === 'inaccessible',
    60_000,
  );
  const unreachable = await restore(bad, layerId);
  expect([unreachable.status, unreachable.body.code]).toEqual([409, 'DATASTORE.INACCESSIBLE']);
  const tasks = await stack.database.pool.query(
    `SELECT 1 FROM read_model.tasks WHERE operation = 'RestoreQuarantinedLayer'`,
  );
  expect(tasks.rowCount).toBe(0);

  // The quarantined disk is refused to use meanwhile.
  const refusedPower = expectStatus(
    await stack.request<Accepted>('POST', `/vms/${vmId}/power-on`, { headers: wait(60) }),
    200,
  );
  expect(refusedPower.task?.status).toBe('failed');
  expect(refusedPower.task?.error?.code).toBe('DISK.QUARANTINED');

  // Still broken: the task fails with the reason, and it stays quarantined.
  const broken = expectStatus(await restore(datastoreId, layerId, { headers: wait(60) }), 200);
  expect(broken.task?.status).toBe('failed');
  expect(broken.task?.error?.code).toBe('DISK.STILL_BROKEN');
  expect(broken.task?.error?.message).toContain(layerId);

  // A symlink in its place (to a sound copy): not a regular file, refused alike.
  const aside = join(stack.datastoreFolder(), 'sound-copy.qcow2');
  await copyFile(layerPath, aside);
  await swapVersion(aside, goodVersion);
  await rename(layerPath, `${layerPath}.broken`);
  symlinkSync(aside, layerPath);
  const linked = expectStatus(await restore(datastoreId, layerId, { headers: wait(60) }), 200);
  expect(linked.task?.status).toBe('failed');
  expect(linked.task?.error?.code).toBe('DISK.STILL_BROKEN');
  expect(linked.task?.error?.message).toContain('not-a-regular-file');
  await rm(layerPath);
  await rename(`${layerPath}.broken`, layerPath);
  expect(await datastoreEventCount(stack, datastoreId, 'DatastoreLayerRestored')).toBe(0);
  expect((await quarantineOf(datastoreId)).entries.map((e) => e.entry)).toContain(layerId);

  // Repaired (its header written back). A restore cancelled while the worker checks the layer
  // again: cancelled, and nothing is taken back.
  await swapVersion(layerPath, goodVersion);
  writeFileSync(hold, '');
  const toCancel = expectStatus(await restore(datastoreId, layerId), 202).taskId!;
  const taskStatus = async (id: string) =>
    (await stack.request<{ status: string; error: { code: string } | null }>('GET', `/tasks/${id}`))
      .body;
  await stack.eventually(async () => (await taskStatus(toCancel)).status === 'running', 60_000);
  expect((await stack.request('POST', `/tasks/${toCancel}/cancel`)).status).toBeLessThan(300);
  const cancelled = await stack.eventually(async () => {
    const task = await taskStatus(toCancel);
    return task.status === 'cancelled' && task;
  }, 60_000);
  expect(cancelled.error?.code ?? 'TASK.CANCELLED').toBe('TASK.CANCELLED');
  rmSync(hold);
  expect(await datastoreEventCount(stack, datastoreId, 'DatastoreLayerRestored')).toBe(0);
  expect((await quarantineOf(datastoreId)).entries.map((e) => e.entry)).toContain(layerId);

  // Restored, as a task with progress.
  const accepted = expectStatus(await restore(datastoreId, layerId), 202);
  expect(accepted.status).toBe('queued');
  const taskId = accepted.taskId!;
  const done = await stack.eventually(async () => {
    const task = await stack.request<{
      status: string;
      error: unknown;
      progress: { percent: number };
      target: { type: string; id: string };
    }>('GET', `/tasks/${taskId}`);
    return task.body.status !== 'queued' && task.body.status !== 'running' && task.body;
  }, 60_000);
  expect(done).toMatchObject({
    status: 'succeeded',
    error: null,
    target: { type: 'datastore', id: datastoreId },
  });
  await stack.eventually(async () => {
    const task = await stack.request<{ progress: { percent: number } }>('GET', `/tasks/${taskId}`);
    return task.body.progress.percent === 100;
  }, 30_000);
  expect(await datastoreEventCount(stack, datastoreId, 'DatastoreLayerRestored')).toBe(1);
  const after = await stack.eventually(async () => {
    const list = await quarantineOf(datastoreId);
    return !list.entries.some((e) => e.entry === layerId) && list;
  }, 30_000);
  expect(after.entries.map((e) => e.entry)).toEqual([strayEntry]);
  // Gone from the quarantine: a second restore is refused as such.
  const again = await restore(datastoreId, layerId);
  expect([again.status, again.body.code]).toEqual([404, 'QUARANTINE.NOT_FOUND']);

  // Its disk serves again.
  const powered = expectStatus(
    await stack.request<Accepted>('POST', `/vms/${vmId}/power-on`, { headers: wait(60) }),
    200,
  );
  expect(powered.task?.status).toBe('succeeded');
  expectStatus(
    await stack.request<Accepted>('POST', `/vms/${vmId}/power-off`, { headers: wait(60) }),
    200,
  );
});

it('documents the restore in the OpenAPI description: admin only, a task, its refusals', async () => {
  const doc = expectStatus(
    await stack.request<{ paths: Record<string, Record<string, Record<string, unknown>>> }>(
      'GET',
      '/openapi.json',
      { role: null },
    ),
    200,
  );
  const restore = doc.paths['/datastores/{datastoreId}/quarantine/{entry}/restore']?.post;
  expect(restore).toBeDefined();
  expect(Object.keys(restore.responses as object)).toEqual(
    expect.arrayContaining(['202', '400', '403', '404', '409']),
  );
  expect(JSON.stringify(restore)).toContain('DISK.STILL_BROKEN');
});
