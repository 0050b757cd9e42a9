import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
  vmDefinition,
  wait,
  workerServes,
} from './support/inventory';

/**
 * One bad datastore stays one bad datastore: a worker that cannot open a datastore's folder (here:
 * its metadata lock is a folder, an I/O error; then the folder is a file) marks it inaccessible,
 * as vSphere shows one: an event, the read model, the worker's /health (degraded, naming it and
 * why), `dolly datastores list`. Its other datastore keeps serving, and jobs on it succeed; the
 * bad one is tried again with backoff (an event only when something changes) and comes back
 * once repaired.
 */

jest.setTimeout(240_000);

let stack: DollyStack;
let hostId: string;

beforeAll(async () => {
  stack = await DollyStack.start(['api', 'projector', 'worker'], {
    DOLLY_WORKER_DATASTORE_RETRY_MIN_MS: '200',
    DOLLY_WORKER_DATASTORE_RETRY_MAX_MS: '800',
  });
  hostId = await registerHost(stack);
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

type Health = {
  status: string;
  checks: Record<
    string,
    {
      status: string;
      details?: {
        inaccessible?: { datastoreId: string; code: string; reason: string; failures: number }[];
      };
    }
  >;
};

async function workerHealth(): Promise<{ httpStatus: number; body: Health }> {
  const answer = await fetch(`${stack.urlOf('worker')}/health`, {
    headers: { authorization: `Bearer ${stack.tokens.admin}` },
  });
  return { httpStatus: answer.status, body: (await answer.json()) as Health };
}

const accessibility = async (datastoreId: string) =>
  (
    await stack.database.pool.query<{ accessibility: string; accessibility_reason: string | null }>(
      'SELECT accessibility, accessibility_reason FROM read_model.datastores WHERE datastore_id = $1',
      [datastoreId],
    )
  ).rows[0];

it('marks it inaccessible, keeps serving the others, retries with backoff and takes it back', async () => {
  const good = await registerDatastore(stack);
  const bad = await registerDatastore(stack);
  await workerServes(stack, good);
  await workerServes(stack, bad);
  const badFolder = await datastoreFolderOf(stack, bad);

  // The worker stops; meanwhile the bad datastore's metadata breaks (an I/O error opening it).
  await stack.kill('worker');
  const lock = join(badFolder, '.dolly', 'lock');
  rmSync(lock, { force: true });
  mkdirSync(lock);
  await stack.startApp('worker');

  const seen = await stack.eventually(async () => {
    const row = await accessibility(bad);
    return row.accessibility === 'inaccessible' && row;
  }, 60_000);
  expect(seen.accessibility_reason).toContain('DISK.IO.EISDIR');
  expect((await accessibility(good)).accessibility).toBe('accessible');

  // The other datastore serves: a VM with a disk is made on it.
  await workerServes(stack, good);
  const vmId = await createVm(stack, hostId, good, [{ capacityBytes: GiB, format: 'thin' }]);
  expect(vmId).toBeTruthy();

  // A command needing the inaccessible one is refused at once, naming it and why (as vSphere
  // refuses work on one), rather than queued for a group of workers that left it.
  const refused = await stack.request<{
    code: string;
    errors: { code: string; detail: string }[];
  }>('POST', '/vms', {
    body: vmDefinition(hostId, bad, undefined, [{ capacityBytes: GiB, format: 'thin' }]),
    headers: wait(),
  });
  expect([refused.status, refused.body.code]).toEqual([409, 'DATASTORE.INACCESSIBLE']);
  expect(refused.body.errors).toEqual([
    expect.objectContaining({
      code: 'DATASTORE.INACCESSIBLE',
      detail: expect.stringContaining(bad) as unknown,
    }),
  ]);
  expect(refused.body.errors[0].detail).toContain('DISK.IO.EISDIR');

  // /health: degraded (200, still serving), naming the datastore and why; retried, backing off.
  const health = await stack.eventually(async () => {
    const answer = await workerHealth();
    const listed = answer.body.checks['disk-engine']?.details?.inaccessible ?? [];
    return listed.some((d) => d.datastoreId === bad && d.failures >= 3) && answer;
  }, 60_000);
  expect(health.httpStatus).toBe(200);
  expect(health.body.status).toBe('degraded');
  expect(health.body.checks['disk-engine'].status).toBe('degraded');
  expect(health.body.checks['disk-engine'].details!.inaccessible).toEqual([
    expect.objectContaining({ datastoreId: bad, code: 'DISK.IO.EISDIR' }),
  ]);
  // Retries that fail alike record nothing new.
  expect(await datastoreEventCount(stack, bad, 'DatastoreInaccessible')).toBe(1);

  const listed = await adminCli(stack, 'datastores', 'list');
  const badLine = listed.split('\n').find((line) => line.includes(bad));
  expect(badLine).toMatch(/inaccessible \(.*DISK\.IO\.EISDIR/);
  expect(listed.split('\n').find((line) => line.includes(good))).toMatch(/accessible/);

  // Worse now: the folder is a file. A new reason is a new event.
  rmSync(badFolder, { recursive: true, force: true });
  writeFileSync(badFolder, 'not a folder');
  await stack.eventually(
    async () => (await datastoreEventCount(stack, bad, 'DatastoreInaccessible')) === 2 || false,
    30_000,
  );
  // The read model follows (projected from the event).
  await stack.eventually(
    async () => (await accessibility(bad)).accessibility_reason?.includes('DATASTORE.') || false,
    30_000,
  );

  // Repaired (an empty folder again): the worker takes it back and says so, once.
  rmSync(badFolder, { force: true });
  mkdirSync(badFolder);
  await stack.eventually(
    async () => (await accessibility(bad)).accessibility === 'accessible',
    30_000,
  );
  await workerServes(stack, bad);
  expect(await datastoreEventCount(stack, bad, 'DatastoreAccessible')).toBe(1);
  const after = await stack.eventually(async () => {
    const answer = await workerHealth();
    return answer.body.checks['disk-engine']?.status === 'up' && answer;
  }, 30_000);
  expect(after.body.checks['disk-engine'].details!.inaccessible).toEqual([]);
  expectStatus(await stack.request<Accepted>('DELETE', `/vms/${vmId}`, { headers: wait() }), 200);
});

it('does a job placed on the group it just left, when it reaches that group’s datastores again', async () => {
  const near = await registerDatastore(stack);
  const far = await registerDatastore(stack);
  await workerServes(stack, near);
  await workerServes(stack, far);
  const farFolder = await datastoreFolderOf(stack, far);
  const workerGroup = async () =>
    (
      await stack.database.pool.query<{ worker_group: string; datastore_ids: string[] }>(
        'SELECT worker_group, datastore_ids FROM read_model.workers',
      )
    ).rows[0];

  // One datastore goes missing: the worker moves to the group of those it still reaches.
  rmSync(farFolder, { recursive: true, force: true });
  writeFileSync(farFolder, 'not a folder');
  const smaller = await stack.eventually(async () => {
    const row = await workerGroup();
    return !row.datastore_ids.includes(far) && row.datastore_ids.includes(near) && row;
  }, 60_000);

  // The worker dies; Kafka still counts it a member of that group for a while, so a job needing
  // only the datastore it reaches is placed there. The datastore comes back before the worker does:
  // the worker starts in the larger group and never joins the smaller one again.
  await workerServes(stack, near);
  await stack.kill('worker', 'SIGKILL');
  const answer = await stack.request<Accepted>('POST', '/vms', {
    body: vmDefinition(hostId, near, undefined, [{ capacityBytes: GiB, format: 'thin' }]),
  });
  const { taskId } = expectStatus(answer, 202);
  const { rows: placed } = await stack.database.pool.query<{ placement: unknown }>(
    `SELECT data->'placement' AS placement FROM event_store.events
      WHERE stream_id = $1 AND type = 'TaskQueued'`,
    [`task-${taskId}`],
  );
  expect(placed[0].placement).toEqual({ kind: 'group', group: smaller.worker_group });
  rmSync(farFolder, { force: true });
  mkdirSync(farFolder);
  await stack.startApp('worker');
  await workerServes(stack, far);
  expect((await workerGroup()).worker_group).not.toBe(smaller.worker_group);

  // Nobody serves the smaller group now: the worker that left it does its job.
  const task = await stack.eventually(async () => {
    const { rows } = await stack.database.pool.query<{ status: string }>(
      'SELECT status FROM read_model.tasks WHERE task_id = $1',
      [taskId],
    );
    return rows[0]?.status === 'succeeded' && rows[0];
  }, 60_000);
  expect(task.status).toBe('succeeded');
});

it('shows admins what check moved aside on a datastore, and nobody else', async () => {
  const datastoreId = await registerDatastore(stack);
  await workerServes(stack, datastoreId);
  const folder = await datastoreFolderOf(stack, datastoreId);

  // An image no layer names: the worker's start-up check moves it aside.
  await stack.kill('worker');
  writeFileSync(join(folder, 'stray.qcow2'), 'not a layer of this datastore');
  await stack.startApp('worker');

  type Quarantine = {
    datastoreId: string;
    observed: boolean;
    entries: { kind: string; entry: string; restorable: boolean; sizeBytes: number }[];
  };
  const seen = await stack.eventually(async () => {
    const answer = await stack.request<Quarantine>('GET', `/datastores/${datastoreId}/quarantine`);
    return answer.status === 200 && answer.body.entries.length > 0 && answer.body;
  }, 60_000);
  expect(seen.observed).toBe(true);
  expect(seen.entries).toEqual([
    expect.objectContaining({
      kind: 'file',
      entry: expect.stringMatching(/-stray\.qcow2$/),
      restorable: false,
      sizeBytes: 'not a layer of this datastore'.length,
    }),
  ]);

  // Admin only: every other role is refused with the reason; hostile ids are refused as such.
  for (const role of ['operator', 'auditor', 'host-client'] as const) {
    const refused = await stack.request<{ code: string }>(
      'GET',
      `/datastores/${datastoreId}/quarantine`,
      { role },
    );
    expect([role, refused.status, refused.body.code]).toEqual([role, 403, 'AUTH.ROLE_NOT_ALLOWED']);
  }
  // `..` (also as %2E%2E) is resolved by the URL itself: no such route (404); a `..` with an
  // encoded slash reaches the route and is not a uuid (400).
  const statusOf = async (id: string) =>
    (await stack.request('GET', `/datastores/${id}/quarantine`)).status;
  for (const id of ['..', '%2E%2E']) expect([id, await statusOf(id)]).toEqual([id, 404]);
  for (const id of ['..%2F..%2Fetc', 'not-a-uuid', `${datastoreId}%2F..`])
    expect([id, await statusOf(id)]).toEqual([id, 400]);
  expect(
    (await stack.request('GET', `/datastores/0190f3a0-0000-7000-8000-0000000000ff/quarantine`))
      .status,
  ).toBe(404);
});
