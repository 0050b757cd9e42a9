/**
 * Chaos: a mixed workload (VM creates, linked and full clones, instant-clone forks, pool
 * entitlements) runs against the whole stack while, one after another, the broker is stopped and
 * started again, PostgreSQL is restarted, the projector and the worker are killed with SIGKILL and
 * started again, and a datastore's folder becomes inaccessible and comes back. Afterwards: every
 * accepted command has its events, the read models equal a rebuild from the store, every task
 * ended (succeeded, failed with a reason, or cancelled), the disk engine's check finds nothing to
 * repair, and the API answered throughout (its answers counted by kind and printed).
 *
 * The stack runs on a broker and a PostgreSQL cluster of this test's own: stopping the shared
 * ones would break the test files running beside it.
 */
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuDiskEngine } from '@dolly/disk-engine';
import {
  compareReadModels,
  discardSchema,
  rebuildReadModels,
  rebuildSchemaOf,
} from '@dolly/read-models';
import {
  DollyStack,
  type HttpAnswer,
  IsolatedKafka,
  IsolatedPostgres,
  type TestDatabase,
} from '@dolly/testing';
import {
  type Accepted,
  MiB,
  datastoreFolderOf,
  registerDatastore,
  registerHost,
  vmDefinition,
  wait,
  workerServes,
} from './support/inventory';
import { qemuIo } from './support/disks';
import { type Pool } from './support/pools';
import { type Vm, commandDone } from './support/vms';

jest.setTimeout(600_000);

let broker: IsolatedKafka;
let postgres: IsolatedPostgres;
let database: TestDatabase;
let stack: DollyStack;

beforeAll(async () => {
  [broker, postgres] = await Promise.all([IsolatedKafka.start(), IsolatedPostgres.start()]);
  database = await postgres.createDatabase();
  stack = await DollyStack.start(['api', 'projector', 'worker'], broker.env, database);
}, 240_000);
afterAll(async () => {
  await stack?.stop();
  await Promise.all([broker?.destroy(), postgres?.destroy()]);
}, 120_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One answer the API gave (or did not give) during the run. */
interface Answer {
  lane: string;
  phase: string;
  method: string;
  path: string;
  /** The HTTP status, or 0 when no answer came at all. */
  status: number;
  code: string | null;
  accepted?: Accepted;
}

const answers: Answer[] = [];
let phase = 'steady';

/** A request of the workload: every answer is recorded, none throws. */
async function call<T = Accepted>(
  lane: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<HttpAnswer<T> | undefined> {
  const at = phase;
  try {
    const answer = await stack.request<T>(method, path, { body });
    const problem = answer.body as { code?: string };
    answers.push({
      lane,
      phase: at,
      method,
      path,
      status: answer.status,
      code: answer.status >= 300 ? (problem?.code ?? null) : null,
      ...(answer.status >= 200 && answer.status < 300
        ? { accepted: answer.body as unknown as Accepted }
        : {}),
    });
    return answer;
  } catch (error) {
    answers.push({
      lane,
      phase: at,
      method,
      path,
      status: 0,
      code: (error as Error & { cause?: { code?: string } }).cause?.code ?? 'NO_ANSWER',
    });
    return undefined;
  }
}

/** Answers counted by kind (status and code), each with the phases it was seen in. */
function answerTable(): { kind: string; count: number; phases: string }[] {
  const kinds = new Map<string, { count: number; phases: Set<string> }>();
  for (const answer of answers) {
    const kind =
      answer.status === 0
        ? `no answer (${answer.code})`
        : answer.status < 300
          ? `${answer.status}`
          : `${answer.status} ${answer.code}`;
    const entry = kinds.get(kind) ?? { count: 0, phases: new Set() };
    entry.count += 1;
    entry.phases.add(answer.phase);
    kinds.set(kind, entry);
  }
  return [...kinds]
    .map(([kind, { count, phases }]) => ({ kind, count, phases: [...phases].join(', ') }))
    .sort((a, b) => a.kind.localeCompare(b.kind));
}

async function projectedEverything(): Promise<boolean> {
  const { rows } = await database.pool.query(
    `SELECT (SELECT count(*) FROM event_store.outbox)::int AS outbox,
            (SELECT count(*) FROM event_store.events)::int AS stored,
            (SELECT count(*) FROM read_model.audit_log)::int AS projected`,
  );
  return rows[0].outbox === 0 && rows[0].stored === rows[0].projected;
}

/** Every app answers /health with 200; otherwise fails naming what is down (for the timeout's message). */
async function healthy(): Promise<boolean> {
  for (const app of ['api', 'projector', 'worker']) {
    const response = await fetch(`${stack.urlOf(app)}/health`, {
      headers: { authorization: `Bearer ${stack.tokens.admin}` },
    });
    if (response.status !== 200)
      throw new Error(`${app}: ${response.status} ${await response.text()}`);
  }
  return true;
}

/** The workload: lanes of commands from several clients, each paced, until `stop` is set. */
function workload(setup: {
  hostId: string;
  datastores: string[];
  golden: Vm;
  parent: Vm;
  poolId: string;
}): { stop: () => Promise<void> } {
  let running = true;
  let n = 0;
  const desktops: string[] = [];
  // Each lane stops after `limit` requests: the disks and running forks stay few enough for 2 cores.
  const lane = (name: string, pauseMs: number, step: () => Promise<unknown>, limit = 60) =>
    (async () => {
      for (let i = 0; running && i < limit; i++) {
        await step();
        await sleep(pauseMs);
      }
    })();
  const { hostId, datastores, golden, parent, poolId } = setup;
  const lanes = [
    lane('create', 2000, () => {
      n += 1;
      return call('create', 'POST', '/vms', {
        ...vmDefinition(hostId, datastores[n % datastores.length], `chaos-${n}`, [
          { capacityBytes: 16 * MiB, format: 'thin' },
        ]),
      });
    }),
    lane('create-inventory', 1500, () => {
      n += 1;
      return call('create-inventory', 'POST', '/vms', vmDefinition(hostId, datastores[0]));
    }),
    lane('clone', 2500, () => {
      n += 1;
      return call('clone', 'POST', `/vms/${golden.vmId}/clone`, {
        name: `clone-${n}`,
        ...(n % 2 === 0 ? { linked: true, snapshotId: golden.currentSnapshotId } : {}),
      });
    }),
    lane('fork', 2500, () => {
      n += 1;
      return call('fork', 'POST', `/vms/${parent.vmId}/instant-clone`, { name: `fork-${n}` });
    }),
    // Users come, and when the pool is full the longest logged on logs off: the pool keeps
    // forking desktops and deleting them.
    lane('entitle', 2500, async () => {
      n += 1;
      const answer = await call<Accepted & { result: { vmId: string } }>(
        'entitle',
        'POST',
        `/pools/${poolId}/entitlements`,
        { userId: `user-${n}` },
      );
      if (answer && answer.status < 300) desktops.push(answer.body.result.vmId);
      else if ((answer?.body as { code?: string } | undefined)?.code === 'POOL.AT_MAXIMUM') {
        const vmId = desktops.shift();
        if (vmId) await call('logoff', 'POST', `/pools/${poolId}/machines/${vmId}/logoff`);
      }
    }),
    lane('read', 500, () => call('read', 'GET', '/vms?limit=50'), Infinity),
  ];
  return {
    stop: async () => {
      running = false;
      await Promise.all(lanes);
    },
  };
}

/** A VM with one small disk written and snapshotted (a golden image), and a running fork parent. */
async function goldenAndParent(
  hostId: string,
  datastoreId: string,
): Promise<{ golden: Vm; parent: Vm }> {
  const created = await commandDone(
    stack,
    'POST',
    '/vms',
    vmDefinition(hostId, datastoreId, 'golden', [{ capacityBytes: 16 * MiB, format: 'thin' }]),
  );
  const running = await commandDone(stack, 'POST', `/vms/${created.vmId}/power-on`);
  await qemuIo(running.live!.exports[0].uri, 'write -P 0x11 0 2M');
  await commandDone(stack, 'POST', `/vms/${created.vmId}/power-off`);
  const golden = await commandDone(stack, 'POST', `/vms/${created.vmId}/snapshots`, {
    name: 'v1',
  });
  const parentVm = await commandDone(stack, 'POST', `/vms/${golden.vmId}/clone`, {
    name: 'parent',
    linked: true,
    snapshotId: golden.currentSnapshotId,
  });
  const parent = await commandDone(stack, 'POST', `/vms/${parentVm.vmId}/power-on`);
  return { golden, parent };
}

it('survives the broker, PostgreSQL, the projector and a worker going away, and a datastore going missing', async () => {
  const hostId = await registerHost(stack);
  const datastores = [await registerDatastore(stack), await registerDatastore(stack)];
  for (const datastoreId of datastores) await workerServes(stack, datastoreId, broker.env);
  const { golden, parent } = await goldenAndParent(hostId, datastores[0]);
  const pool = await stack.request<Accepted & { resource: Pool & { poolId: string } }>(
    'POST',
    '/pools',
    {
      body: {
        name: 'chaos',
        goldenVmId: golden.vmId,
        snapshotId: golden.currentSnapshotId,
        hostId,
        datastoreId: datastores[0],
        namingPattern: 'desk-{n}',
        maxMachines: 8,
        spareMachines: 1,
        provisioning: 'on-demand',
        assignment: 'dedicated',
      },
      headers: wait(120),
    },
  );
  expect(pool.status).toBe(201);
  const poolId = pool.body.resource!.poolId;

  const load = workload({ hostId, datastores, golden, parent, poolId });
  const steps: { name: string; seconds: number }[] = [];
  const step = async (name: string, fault: () => Promise<void>) => {
    const started = Date.now();
    phase = name;
    await fault();
    phase = `after ${name}`;
    // The stack is whole again before the next fault: every part healthy, the pipeline caught up.
    await stack.eventually(healthy, 120_000);
    steps.push({ name, seconds: (Date.now() - started) / 1000 });
    await sleep(2000);
  };
  try {
    await sleep(3000);
    await step('broker stopped', async () => {
      await broker.stop();
      await sleep(5000);
      await broker.start();
    });
    await step('PostgreSQL restarted', async () => {
      await postgres.stop();
      await sleep(3000);
      await postgres.start();
    });
    await step('projector killed', async () => {
      await stack.kill('projector', 'SIGKILL');
      await sleep(1000);
      await stack.startApp('projector');
    });
    await step('worker killed', async () => {
      await stack.kill('worker', 'SIGKILL');
      await sleep(1000);
      await stack.startApp('worker');
    });
    // Its folder swapped for a file, as an unmounted or replaced share looks (chmod 000 would not
    // do: the tests run as root, whom modes do not stop), then brought back.
    const folder = await datastoreFolderOf(stack, datastores[1]);
    const aside = `${folder}.aside`;
    await step('datastore inaccessible', async () => {
      renameSync(folder, aside);
      writeFileSync(folder, 'not a datastore');
      await sleep(5000);
      rmSync(folder);
      renameSync(aside, folder);
    });
  } finally {
    phase = 'draining';
    await load.stop();
  }
  phase = 'after';

  // Every task ends, and the pipeline catches up.
  const taskIds = answers.flatMap((a) => (a.accepted?.taskId ? [a.accepted.taskId] : []));
  const unfinished = async () =>
    (
      await database.pool.query(
        `SELECT task_id, operation, target_type, target_id, status, attempt, worker_id
           FROM read_model.tasks WHERE status IN ('queued', 'running')`,
      )
    ).rows;
  await stack
    .eventually(async () => (await unfinished()).length === 0, 180_000)
    .catch(async () => expect(await unfinished()).toEqual([]));
  await stack.eventually(projectedEverything, 60_000);

  // The API answered throughout: the answers by kind.
  const table = answerTable();
  console.log(
    [
      'chaos: steps (s):',
      ...steps.map((s) => `  ${s.name}: ${s.seconds}`),
      'chaos: answers by kind:',
      ...table.map(
        (row) => `  ${row.kind.padEnd(48)} ${String(row.count).padStart(5)}  (${row.phases})`,
      ),
    ].join('\n'),
  );
  // A request always got an answer (the API was never down), and no answer was a server error
  // but 503: what a part being away (PostgreSQL restarting) may answer, saying to come back.
  expect(answers.filter((a) => a.status === 0)).toEqual([]);
  expect(answers.filter((a) => a.status >= 500 && a.status !== 503)).toEqual([]);
  const accepted = answers.filter((a) => a.accepted);
  expect(accepted.filter((a) => a.lane !== 'read').length).toBeGreaterThan(20);

  // Every accepted command that changed something has its events: its target's stream holds the
  // version the answer named.
  const changed = accepted.filter((a) => a.lane !== 'read' && a.accepted!.changed);
  const { rows: missing } = await database.pool.query(
    `SELECT t.stream_id, t.version FROM unnest($1::text[], $2::int[]) AS t(stream_id, version)
      WHERE NOT EXISTS (SELECT 1 FROM event_store.events e
                         WHERE e.stream_id = t.stream_id AND e.stream_version = t.version)`,
    [
      changed.map((a) => `${a.accepted!.target.type}-${a.accepted!.target.id}`),
      changed.map((a) => a.accepted!.target.version),
    ],
  );
  expect(missing).toEqual([]);

  // Every task ended: succeeded, failed with a reason, or cancelled.
  const { rows: tasks } = await database.pool.query<{
    task_id: string;
    status: string;
    error_code: string | null;
    error_message: string | null;
  }>('SELECT task_id::text, status, error_code, error_message FROM read_model.tasks');
  const known = new Set(tasks.map((t) => t.task_id));
  expect(taskIds.filter((id) => !known.has(id))).toEqual([]);
  expect(
    tasks.filter(
      (t) =>
        !(
          t.status === 'succeeded' ||
          t.status === 'cancelled' ||
          (t.status === 'failed' && t.error_code && t.error_message)
        ),
    ),
  ).toEqual([]);
  const failures = new Map<string, number>();
  for (const t of tasks.filter((t) => t.status === 'failed')) {
    const reason = `${t.error_code}: ${t.error_message!.slice(0, 160)}`;
    failures.set(reason, (failures.get(reason) ?? 0) + 1);
  }
  console.log(
    [
      `chaos: ${tasks.length} tasks; failed, by reason:`,
      ...[...failures].map(([reason, count]) => `  ${count} × ${reason}`),
    ].join('\n'),
  );

  // Nothing holds a transaction open: it would hold back the relay and every reader of the
  // store's order (the rebuild below waits for it).
  const openTransactions = async () =>
    (
      await database.pool.query(
        `SELECT pid, application_name, state, extract(epoch FROM now() - xact_start)::int AS seconds,
                left(query, 300) AS query
           FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()`,
      )
    ).rows;
  await stack
    .eventually(async () => (await openTransactions()).length === 0, 30_000)
    .catch(async () => expect(await openTransactions()).toEqual([]));

  // Every read model equals a rebuild from the store.
  const suffix = `check_${Date.now()}`;
  const schema = rebuildSchemaOf(suffix);
  try {
    const rebuilt = await rebuildReadModels(database.pool, { suffix }).catch(
      async (error: Error) => {
        // Which events the rebuild did not read, against those it did: for the failure to show.
        const { rows } = await database.pool.query(
          `SELECT e.transaction_id::text, e.global_position, e.stream_id, e.recorded_at,
                s.version AS rebuilt_version, pg_current_snapshot()::text AS snapshot
           FROM event_store.events e LEFT JOIN ${schema}.projector_streams s USING (stream_id)
          WHERE e.stream_version > coalesce(s.version, 0)
          ORDER BY e.transaction_id, e.global_position LIMIT 10`,
        );
        const { rows: last } = await database.pool.query(
          `SELECT max(global_position) AS last_read FROM ${schema}.projector_streams`,
        );
        throw new Error(
          `${error.message}\nunread: ${JSON.stringify(rows)}\nread up to ${JSON.stringify(last)}`,
        );
      },
    );
    expect(rebuilt.events).toBeGreaterThan(0);
    const differences = await compareReadModels(database.pool, 'read_model', schema);
    for (const { table } of differences) {
      // What differs, row by row, for the failure to show.
      const rows = async (a: string, b: string) =>
        (
          await database.pool.query(
            `SELECT * FROM ${a}.${table} EXCEPT ALL SELECT * FROM ${b}.${table} LIMIT 5`,
          )
        ).rows;
      console.log(
        `chaos: ${table} differs from its rebuild\nlive: ${JSON.stringify(await rows('read_model', schema))}\nrebuilt: ${JSON.stringify(await rows(schema, 'read_model'))}`,
      );
    }
    expect(differences).toEqual([]);
  } finally {
    await discardSchema(database.pool, schema);
  }

  // No layer orphaned on disk: with the worker stopped, an engine over the datastores finds
  // nothing to repair, neither at its start nor in a deep check of every image.
  await stack.kill('worker', 'SIGTERM');
  const runtimeDir = mkdtempSync(join(tmpdir(), 'dolly-chk-'));
  try {
    const folders = await Promise.all(datastores.map((id) => datastoreFolderOf(stack, id)));
    expect(folders.every((folder) => existsSync(folder))).toBe(true);
    const { engine, report } = await QemuDiskEngine.start({
      datastores: datastores.map((datastoreId, i) => ({ datastoreId, path: folders[i] })),
      runtimeDir,
      workerId: 'chaos-check',
    });
    try {
      expect(report.check.findings).toEqual([]);
      const deep = await engine.check({ operationId: 'chaos-check', repair: false });
      expect(deep.findings).toEqual([]);
      expect(deep.imagesChecked).toBeGreaterThan(0);
    } finally {
      await engine.stop();
    }
  } finally {
    rmSync(runtimeDir, { recursive: true, force: true });
  }
});
