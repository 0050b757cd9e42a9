import {
  DollyStack,
  appendGeneratedHistory,
  differencesFromARebuild,
  readModelRows,
} from '@dolly/testing';
import { runCli } from '../apps/cli/src/testing/run-cli';
import {
  type Accepted,
  MiB,
  createVm,
  expectStatus,
  registerDatastore,
  registerHost,
  workerServes,
} from './support/inventory';
import type { Problem } from './support/vms';

/**
 * `dolly admin rebuild` on the whole stack: a projector rebuilds every read model into fresh
 * tables while the API serves and commands go on, then switches over with no request failing;
 * the live tables then equal a rebuild row for row, and the projector goes on writing them.
 * Refused to an operator; cancelled, it drops what it made and the live tables serve on.
 */
jest.setTimeout(300_000);

interface TaskView {
  taskId: string;
  operation: string;
  status: string;
  target: { type: string; id: string };
  actor: { id: string; role: string };
  progress: {
    percent: number;
    unit: string;
    done: number;
    total: number;
    perSecond: number | null;
  };
}

/** A disk: each VM is made by a worker's task, as most are. */
const DISKS = [{ capacityBytes: 16 * MiB, format: 'thin' as const }];

let stack: DollyStack;
let hostId: string;
let datastoreId: string;
beforeAll(async () => {
  stack = await DollyStack.start(['api', 'projector', 'worker']);
  hostId = await registerHost(stack);
  datastoreId = await registerDatastore(stack);
  await workerServes(stack, datastoreId);
  for (let n = 0; n < 3; n += 1) await createVm(stack, hostId, datastoreId, DISKS);
});
afterAll(() => stack?.stop());

async function leftoverSchemas(): Promise<string[]> {
  const { rows } = await stack.database.pool.query<{ nspname: string }>(
    `SELECT nspname FROM pg_namespace WHERE nspname ~ '^read_model_(rebuild|retired)_'`,
  );
  return rows.map((row) => row.nspname);
}

it('rebuilds every read model while the API serves and VMs are made, switches over with no request failing, and the projector writes on', async () => {
  let serving = true;
  const failures: string[] = [];
  let reads = 0;
  const reader = (async () => {
    while (serving) {
      const answer = await stack.request<{ items: unknown[] }>('GET', '/vms?limit=100', {
        role: 'operator',
      });
      if (answer.status !== 200 || answer.body.items.length < 3)
        failures.push(`GET /vms: ${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}`);
      const tasks = await stack.request('GET', '/tasks?limit=20', { role: 'operator' });
      if (tasks.status !== 200) failures.push(`GET /tasks: ${tasks.status}`);
      reads += 1;
    }
  })();
  const made = (async () => {
    const vmIds: string[] = [];
    for (let n = 0; n < 3; n += 1) vmIds.push(await createVm(stack, hostId, datastoreId, DISKS));
    return vmIds;
  })();

  const { rows: stored } = await stack.database.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM event_store.events',
  );
  let run: Awaited<ReturnType<typeof runCli>>;
  let newVms: string[];
  try {
    run = await runCli({ url: stack.apiUrl, token: stack.tokens.admin }, [
      '--json',
      'admin',
      'rebuild',
    ]);
    newVms = await made;
  } finally {
    serving = false;
    await reader;
  }

  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  const { task } = JSON.parse(run.stdout) as { task: TaskView };
  expect(task).toMatchObject({
    operation: 'RebuildReadModels',
    status: 'succeeded',
    target: { type: 'read-models', id: 'read_model' },
    actor: { role: 'admin' },
    progress: { percent: 100, unit: 'events' },
  });
  expect(task.progress.total).toBeGreaterThanOrEqual(stored[0].n);
  expect(task.progress.done).toBe(task.progress.total);
  expect(task.progress.perSecond).toBeGreaterThan(0);
  expect(failures).toEqual([]);
  expect(reads).toBeGreaterThan(0);
  expect(await leftoverSchemas()).toEqual([]);

  // The projector writes on into the switched-to tables: the VMs made meanwhile, and one made now.
  const after = await createVm(stack, hostId, datastoreId, DISKS);
  for (const vmId of [...newVms, after])
    expectStatus(await stack.request('GET', `/vms/${vmId}`), 200);
  await stack.eventually(
    async () => (await differencesFromARebuild(stack.database.pool)).length === 0,
    60_000,
  );

  // The task's own history: queued by the admin, run and ended by a projector.
  const { rows } = await stack.database.pool.query<{ type: string; role: string }>(
    `SELECT type, metadata->'actor'->>'role' AS role FROM event_store.events
      WHERE stream_id = $1 ORDER BY stream_version`,
    [`task-${task.taskId}`],
  );
  expect(rows).toEqual([
    { type: 'TaskQueued', role: 'admin' },
    { type: 'TaskStarted', role: 'projector' },
    { type: 'TaskSucceeded', role: 'projector' },
  ]);
});

it('is refused to an operator with a problem, and to an auditor', async () => {
  for (const role of ['operator', 'auditor'] as const) {
    const refused = await stack.request<Problem>('POST', '/admin/read-models/rebuild', { role });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  }
});

/** The live inventory's tables (the tasks and the audit log go on recording the rebuild's task). */
async function inventoryRows(): Promise<Record<string, unknown[]>> {
  const {
    tasks: _tasks,
    audit_log: _audit,
    ...inventory
  } = await readModelRows(stack.database.pool, 'read_model');
  return inventory;
}

it('drops what it made when cancelled, and the live tables serve on as they were', async () => {
  // A history long enough to be cancelled midway: written straight to the store, as no command
  // would, it is replayed by the rebuild and never reaches the live tables.
  await appendGeneratedHistory(stack.database.pool, { events: 200_000, streams: 2_000 });
  const before = await inventoryRows();

  const accepted = expectStatus(
    await stack.request<Accepted>('POST', '/admin/read-models/rebuild', {}),
    202,
  );
  const taskId = accepted.taskId!;
  const running = await stack.eventually(async () => {
    const { body } = await stack.request<TaskView>('GET', `/tasks/${taskId}`);
    return body.status === 'running' && body.progress.done > 0 && body;
  }, 60_000);
  expect(running.progress).toMatchObject({ unit: 'events', total: expect.any(Number) });
  expect(running.progress.total).toBeGreaterThan(200_000);

  expectStatus(await stack.request('POST', `/tasks/${taskId}/cancel`), 202);
  const ended = await stack.eventually(async () => {
    const { body } = await stack.request<TaskView>('GET', `/tasks/${taskId}`);
    return body.status !== 'running' && body.status !== 'queued' && body;
  }, 60_000);

  expect(ended.status).toBe('cancelled');
  expect(await leftoverSchemas()).toEqual([]);
  expect(await inventoryRows()).toEqual(before);
});
