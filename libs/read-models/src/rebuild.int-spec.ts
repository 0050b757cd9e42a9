import { type GlobalCheckpoint, PostgresEventStore, START_OF_STORE } from '@dolly/event-store';
import {
  type TestDatabase,
  appendRecordedEvents,
  createTestDatabase,
  differencesFromARebuild,
  recordedHistory,
} from '@dolly/testing';
import { applyEvents } from './projector-engine';
import { LIVE_SCHEMA } from './projection';
import {
  type RebuildProgress,
  discardSchema,
  rebuildReadModels,
  rebuildSchemaOf,
  switchOverReadModels,
} from './rebuild';

/**
 * Blue/green rebuilds against a real PostgreSQL, on a long mixed history recorded from a real
 * stack (creates, clones, conversions, snapshots, pools, pushed images, deletes): the switch-over
 * while events keep coming and readers keep reading, what it must catch up, and what it refuses.
 */
const history = recordedHistory();
const BEFORE = 250;

let db: TestDatabase;
let store: PostgresEventStore;
beforeEach(async () => {
  db = await createTestDatabase(8);
  store = new PostgresEventStore(db.pool);
});
afterEach(() => db.drop());

/** What the projector does: every event after `from` into the live tables, as it writes them. */
async function projectLive(from: GlobalCheckpoint): Promise<GlobalCheckpoint> {
  let checkpoint = from;
  for (;;) {
    const page = await store.readAll(checkpoint, 50);
    if (page.events.length === 0) return checkpoint;
    await store.transaction(async (client) => {
      await client.query('SELECT read_model_admin.lock_for_write()');
      await applyEvents(client, LIVE_SCHEMA, page.events);
    });
    checkpoint = page.checkpoint;
  }
}

/** The live tables equal, row for row, a rebuild of every model made now. */
async function expectLiveEqualsARebuild(): Promise<void> {
  expect(await differencesFromARebuild(db.pool)).toEqual([]);
}

/** Each live table's indexes and keys (by name) and who may do what with it. */
async function liveShape(): Promise<unknown[]> {
  const { rows } = await db.pool.query(
    `SELECT c.relname AS table_name,
            (SELECT array_agg(i.relname::text ORDER BY i.relname) FROM pg_index x
               JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid) AS indexes,
            (SELECT array_agg(conname::text ORDER BY conname) FROM pg_constraint WHERE conrelid = c.oid) AS constraints,
            (SELECT array_agg(pg_get_userbyid(a.grantee) || ':' || a.privilege_type ORDER BY 1)
               FROM aclexplode(c.relacl) a) AS grants
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'read_model' AND c.relkind = 'r' ORDER BY c.relname`,
  );
  return rows;
}

async function leftoverSchemas(): Promise<string[]> {
  const { rows } = await db.pool.query<{ nspname: string }>(
    `SELECT nspname FROM pg_namespace WHERE nspname ~ '^read_model_(rebuild|retired)_'`,
  );
  return rows.map((row) => row.nspname);
}

it('switches over to a rebuild made while events kept coming and readers kept reading; the live tables then equal a rebuild of every model', async () => {
  await appendRecordedEvents(db.pool, history.events.slice(0, BEFORE));
  let live = await projectLive(START_OF_STORE);
  const shape = await liveShape();
  const { rows: auditBefore } = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM read_model.audit_log',
  );

  // Readers read the live tables throughout, as the API does: none may fail or find nothing.
  let reading = true;
  const readerErrors: string[] = [];
  let reads = 0;
  const reader = (async () => {
    while (reading) {
      try {
        const { rows } = await db.pool.query<{ n: number }>(
          `SELECT (SELECT count(*) FROM read_model.vms)::int + (SELECT count(*) FROM read_model.tasks)::int AS n`,
        );
        if (rows[0].n === 0) readerErrors.push('found no VM and no task');
        reads += 1;
      } catch (error) {
        readerErrors.push((error as Error).message);
      }
    }
  })();

  const progress: RebuildProgress[] = [];
  const rebuilt = await rebuildReadModels(db.pool, {
    suffix: 'blue',
    batchSize: 40,
    onProgress: (report) => void progress.push(report),
  });
  expect(rebuilt).toMatchObject({ schema: 'read_model_rebuild_blue', events: BEFORE });

  // The rest of the history comes while the switch-over catches up, and the projector goes on.
  await appendRecordedEvents(db.pool, history.events.slice(BEFORE));
  const [, switched] = await Promise.all([
    projectLive(live).then((at) => (live = at)),
    switchOverReadModels(db.pool, 'blue', { checkpoint: rebuilt.checkpoint, batchSize: 40 }),
  ]);
  live = await projectLive(live);
  reading = false;
  await reader;

  expect(readerErrors).toEqual([]);
  expect(reads).toBeGreaterThan(0);
  expect(switched.caughtUp).toBe(history.events.length - BEFORE);
  expect(progress.length).toBeGreaterThan(1);
  expect(progress.map((p) => p.events)).toEqual(
    [...progress.map((p) => p.events)].sort((a, b) => a - b),
  );
  expect(progress[progress.length - 1]).toMatchObject({
    phase: 'replay',
    events: BEFORE,
    total: BEFORE,
  });
  expect(progress.every((p) => p.perSecond > 0)).toBe(true);

  await expectLiveEqualsARebuild();
  const { rows: auditAfter } = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM read_model.audit_log',
  );
  expect(auditAfter[0].n).toBeGreaterThan(auditBefore[0].n);
  // The same tables as before: each index and key under its name, each right granted as it was.
  expect(await liveShape()).toEqual(shape);
  expect(await leftoverSchemas()).toEqual([]);
});

it('applies at the switch what the live tables hold and the replay passed by (a transaction that committed late)', async () => {
  await appendRecordedEvents(db.pool, history.events.slice(0, BEFORE));
  const live = await projectLive(START_OF_STORE);
  const rebuilt = await rebuildReadModels(db.pool, { suffix: 'late' });
  expect(rebuilt.events).toBe(BEFORE);
  await appendRecordedEvents(db.pool, history.events.slice(BEFORE, BEFORE + 20));
  const head = await projectLive(live);

  // The replay read up to the head, as if it had: the 20 events reach it only from the live side.
  const { caughtUp } = await switchOverReadModels(db.pool, 'late', { checkpoint: head });

  expect(caughtUp).toBe(20);
  await expectLiveEqualsARebuild();
});

it('leaves the live tables as they were when the rebuild is stopped, and its schema is dropped', async () => {
  await appendRecordedEvents(db.pool, history.events);
  await projectLive(START_OF_STORE);
  const stop = new AbortController();
  const rebuilding = rebuildReadModels(db.pool, {
    suffix: 'stopped',
    batchSize: 20,
    signal: stop.signal,
    onProgress: ({ events }) => {
      if (events >= 100) stop.abort(new Error('cancelled on request'));
    },
  });
  await expect(rebuilding).rejects.toThrow('cancelled on request');
  await discardSchema(db.pool, rebuildSchemaOf('stopped'));

  expect(await leftoverSchemas()).toEqual([]);
  await expectLiveEqualsARebuild();
});

describe('what the switch functions refuse', () => {
  const code = (work: Promise<unknown>) =>
    work.then(
      () => 'accepted',
      (error: { code?: string }) => error.code,
    );

  it('names only their own schemas: a hostile suffix or schema never reaches a statement', async () => {
    for (const suffix of [
      '',
      'A',
      'a-b',
      'x; DROP SCHEMA read_model CASCADE',
      '../etc',
      'a'.repeat(33),
      'ü',
      'a b',
    ]) {
      expect([
        suffix,
        await code(db.pool.query('SELECT read_model_admin.prepare_rebuild($1)', [suffix])),
      ]).toEqual([suffix, '22023']);
      expect([
        suffix,
        await code(db.pool.query('SELECT read_model_admin.switch_over($1)', [suffix])),
      ]).toEqual([suffix, '22023']);
      expect([
        suffix,
        await code(
          db.pool.query('SELECT read_model_admin.make_durable($1, $2)', [suffix, 'audit_log']),
        ),
      ]).toEqual([suffix, '22023']);
    }
    // A table is one a rebuild makes, by its name alone.
    await db.pool.query('SELECT read_model_admin.prepare_rebuild($1)', ['named']);
    for (const table of [
      'task_progress',
      'projector_offsets',
      '../audit_log',
      'audit_log; DROP SCHEMA read_model',
      'read_model.vms',
      'events',
      null,
    ])
      expect([
        table,
        await code(db.pool.query('SELECT read_model_admin.make_durable($1, $2)', ['named', table])),
      ]).toEqual([table, '22023']);
    await discardSchema(db.pool, 'read_model_rebuild_named');
    for (const schema of [
      'read_model',
      'event_store',
      'public',
      'read_model_admin',
      'read_model_rebuild_',
      'read_model_rebuild_x; DROP SCHEMA read_model',
      'read_model_retired_x"',
    ])
      expect([schema, await code(discardSchema(db.pool, schema))]).toEqual([schema, '22023']);
    expect(await code(db.pool.query('SELECT count(*) FROM read_model.vms'))).toBe('accepted');
  });

  it('switches over only to a schema holding every table a rebuild makes', async () => {
    expect(await code(db.pool.query('SELECT read_model_admin.switch_over($1)', ['nothing']))).toBe(
      '55000',
    );
    await db.pool.query('SELECT read_model_admin.prepare_rebuild($1)', ['partial']);
    await db.pool.query('DROP TABLE read_model_rebuild_partial.vms');
    expect(await code(db.pool.query('SELECT read_model_admin.switch_over($1)', ['partial']))).toBe(
      '55000',
    );
    expect(await code(db.pool.query('SELECT count(*) FROM read_model.vms'))).toBe('accepted');
    await discardSchema(db.pool, 'read_model_rebuild_partial');
  });

  it('are the projector’s alone: the API cannot call them, and the projector makes no schema itself', async () => {
    const as = async (role: string, sql: string, params: unknown[] = []) => {
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(`SET LOCAL ROLE ${role}`);
        return await code(client.query(sql, params));
      } finally {
        await client.query('ROLLBACK');
        client.release();
      }
    };
    expect(await as('dolly_api', 'SELECT read_model_admin.prepare_rebuild($1)', ['api'])).toBe(
      '42501',
    );
    expect(await as('dolly_worker', 'SELECT read_model_admin.try_lock_for_switch()')).toBe('42501');
    expect(await as('dolly_projector', 'CREATE SCHEMA read_model_rebuild_own')).toBe('42501');
    // Copying indexes is a step of the functions above, never the projector's to take alone.
    expect(
      await as('dolly_projector', `SELECT read_model_admin.copy_indexes('public', 'vms', false)`),
    ).toBe('42501');
    expect(
      await as('dolly_projector', 'SELECT read_model_admin.prepare_rebuild($1)', ['projector']),
    ).toBe('accepted');
  });
});
