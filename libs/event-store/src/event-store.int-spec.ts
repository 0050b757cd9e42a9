import { type TestDatabase, createTestDatabase, testMetadata } from '@dolly/testing';
import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import {
  type GlobalCheckpoint,
  type NewEvent,
  PostgresEventStore,
  START_OF_STORE,
} from './event-store';

const metadata = testMetadata({ command: 'RenameVm' });

function renamed(vmId: string, name: string): NewEvent {
  return {
    eventId: uuidv7(),
    type: 'VmRenamed',
    data: { vmId, name, previousName: 'before' },
    metadata,
    occurredAt: new Date().toISOString(),
  };
}

let db: TestDatabase;
let store: PostgresEventStore;

beforeAll(async () => {
  db = await createTestDatabase(30);
  store = new PostgresEventStore(db.pool);
});
afterAll(() => db.drop());

async function countRows(table: string, streamId?: string): Promise<number> {
  const { rows } = streamId
    ? await db.pool.query(
        `SELECT count(*)::int AS n FROM ${table} JOIN event_store.events e USING (global_position) WHERE e.stream_id = $1`,
        [streamId],
      )
    : await db.pool.query(`SELECT count(*)::int AS n FROM ${table}`);
  return rows[0].n;
}

describe('appending to a stream', () => {
  it('numbers events from 1 and reads them back in order, with an outbox row each', async () => {
    const vmId = uuidv7();
    const streamId = `vm-${vmId}`;
    const first = await store.appendToStream(streamId, 'vm', 0, [
      renamed(vmId, 'a'),
      renamed(vmId, 'b'),
    ]);
    expect(first).toMatchObject({ success: true, nextStreamVersion: 2 });
    const second = await store.appendToStream(streamId, 'vm', 2, [renamed(vmId, 'c')]);
    expect(second).toMatchObject({ success: true, nextStreamVersion: 3 });

    const events = await store.readStream(streamId);
    expect(events.map((e) => [e.streamVersion, (e.data as { name: string }).name])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ]);
    expect(events.map((e) => e.globalPosition)).toEqual(
      [...events.map((e) => e.globalPosition)].sort((a, b) => Number(a) - Number(b)),
    );
    expect(await countRows('event_store.outbox o', streamId)).toBe(3);
  });

  it('refuses a stale expected version and writes nothing', async () => {
    const vmId = uuidv7();
    const streamId = `vm-${vmId}`;
    await store.appendToStream(streamId, 'vm', 0, [renamed(vmId, 'a')]);
    const before = await countRows('event_store.events');

    expect(await store.appendToStream(streamId, 'vm', 0, [renamed(vmId, 'b')])).toEqual({
      success: false,
      actualVersion: 1,
    });
    // An expected version ahead of the stream must not leave a gap either.
    expect(await store.appendToStream(streamId, 'vm', 5, [renamed(vmId, 'c')])).toEqual({
      success: false,
      actualVersion: 1,
    });

    expect(await countRows('event_store.events')).toBe(before);
    expect(await store.streamVersion(streamId)).toBe(1);
  });

  it('lets exactly one of many concurrent appends at the same version win', async () => {
    const vmId = uuidv7();
    const streamId = `vm-${vmId}`;
    await store.appendToStream(streamId, 'vm', 0, [renamed(vmId, 'start')]);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.appendToStream(streamId, 'vm', 1, [renamed(vmId, `w${i}`), renamed(vmId, `w${i}'`)]),
      ),
    );
    expect(results.filter((r) => r.success)).toHaveLength(1);
    expect(
      results.filter((r) => !r.success).every((r) => !r.success && r.actualVersion === 3),
    ).toBe(true);
    const events = await store.readStream(streamId);
    expect(events).toHaveLength(3);
    expect(await countRows('event_store.outbox o', streamId)).toBe(3);
  });

  it('keeps history immutable', async () => {
    const vmId = uuidv7();
    await store.appendToStream(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'a')]);
    await expect(
      db.pool.query(`UPDATE event_store.events SET type = 'x' WHERE stream_id = $1`, [
        `vm-${vmId}`,
      ]),
    ).rejects.toThrow(/append-only/);
    await expect(
      db.pool.query(`DELETE FROM event_store.events WHERE stream_id = $1`, [`vm-${vmId}`]),
    ).rejects.toThrow(/append-only/);
  });
});

describe('reading the global order', () => {
  async function readEverything(
    from: GlobalCheckpoint,
  ): Promise<{ positions: string[]; checkpoint: GlobalCheckpoint }> {
    const positions: string[] = [];
    let checkpoint = from;
    for (;;) {
      const page = await store.readAll(checkpoint, 1000);
      if (page.events.length === 0) return { positions, checkpoint };
      positions.push(...page.events.map((e) => e.globalPosition));
      checkpoint = page.checkpoint;
    }
  }

  /**
   * The snapshot horizon is cluster-wide: another test's open transaction (in any database) can
   * hold it back for a while. Reading "until these arrive" keeps the tests exact without assuming
   * the cluster is idle.
   */
  async function readUntil(from: GlobalCheckpoint, wanted: Set<string>, timeoutMs = 30_000) {
    const positions: string[] = [];
    let checkpoint = from;
    const deadline = Date.now() + timeoutMs;
    while (![...wanted].every((p) => positions.includes(p))) {
      if (Date.now() > deadline)
        throw new Error(
          `Only ${positions.filter((p) => wanted.has(p)).length} of ${wanted.size} arrived`,
        );
      const page = await store.readAll(checkpoint, 1000);
      positions.push(...page.events.map((e) => e.globalPosition));
      checkpoint = page.checkpoint;
      if (page.events.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return { positions, checkpoint };
  }

  it('numbers events in the order their appends commit: a later append waits for an open one', async () => {
    const { checkpoint: start } = await readEverything(START_OF_STORE);
    const early = new Client({ connectionString: db.url });
    const late = new Client({ connectionString: db.url });
    await early.connect();
    await late.connect();
    try {
      // The chain head (event-chain migration) orders appends: the late one cannot take a
      // position below the early one's and commit first, the gap readers once had to guard.
      await early.query('BEGIN');
      const vmA = uuidv7();
      const a = await store.appendToStream(`vm-${vmA}`, 'vm', 0, [renamed(vmA, 'early')], early);
      const latePid = (await late.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const vmB = uuidv7();
      const lateAppend = store.appendToStream(`vm-${vmB}`, 'vm', 0, [renamed(vmB, 'late')], late);
      for (;;) {
        const { rows } = await db.pool.query(
          `SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`,
          [latePid],
        );
        if (rows[0]?.wait_event_type === 'Lock') break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const whileOpen = await readEverything(start);
      if (!a.success) throw new Error('append failed');
      expect(whileOpen.positions).not.toContain(a.events[0].globalPosition);

      await early.query('COMMIT');
      const b = await lateAppend;
      if (!b.success) throw new Error('append failed');
      const [positionA, positionB] = [a.events[0].globalPosition, b.events[0].globalPosition];
      expect(BigInt(positionA)).toBeLessThan(BigInt(positionB));
      const after = await readUntil(whileOpen.checkpoint, new Set([positionA, positionB]));
      expect(after.positions.filter((p) => p === positionA || p === positionB)).toEqual([
        positionA,
        positionB,
      ]);
    } finally {
      await early.end();
      await late.end();
    }
  });

  it('delivers every event exactly once to a reader following many concurrent writers', async () => {
    // The horizon is cluster-wide: events of earlier tests may still turn up; only ours are counted.
    const { checkpoint: start } = await readEverything(START_OF_STORE);
    const writers = 24;
    const appendsPerWriter = 40;
    const ourStreams = new Set<string>();
    let writing = true;
    const seen: string[] = [];
    const follower = (async () => {
      let checkpoint = start;
      const deadline = Date.now() + 30_000;
      while ((writing || seen.length < writers * appendsPerWriter) && Date.now() < deadline) {
        const page = await store.readAll(checkpoint, 200);
        seen.push(
          ...page.events.filter((e) => ourStreams.has(e.streamId)).map((e) => e.globalPosition),
        );
        checkpoint = page.checkpoint;
        if (page.events.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    const written: string[] = [];
    await Promise.all(
      Array.from({ length: writers }, async () => {
        const vmId = uuidv7();
        ourStreams.add(`vm-${vmId}`);
        for (let i = 0; i < appendsPerWriter; i++) {
          // Random small delays inside transactions make commit order differ from position order.
          const result = await store.transaction(async (client) => {
            const appended = await store.appendToStream(
              `vm-${vmId}`,
              'vm',
              i,
              [renamed(vmId, `n${i}`)],
              client,
            );
            await client.query('SELECT pg_sleep($1)', [Math.random() * 0.004]);
            return appended;
          });
          if (!result.success) throw new Error('unexpected conflict');
          written.push(result.events[0].globalPosition);
        }
      }),
    );
    writing = false;
    await follower;

    const repeated = seen.filter((p, i) => seen.indexOf(p) !== i);
    expect(repeated).toEqual([]);
    expect([...seen].sort()).toEqual([...written].sort());
  }, 60_000);
});

describe('a session PostgreSQL ends while a transaction holds it (a server restart)', () => {
  it('fails that transaction, and the process lives on: the error is heard, the connection dropped', async () => {
    const uncaught: Error[] = [];
    const hear = (error: Error) => uncaught.push(error);
    process.prependListener('uncaughtException', hear);
    try {
      await expect(
        store.transaction(async (client) => {
          const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          // What a restart does to every session (57P01), while this one is between two queries.
          await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
          await new Promise((resolve) => setTimeout(resolve, 300));
        }),
      ).rejects.toThrow();
      expect(uncaught).toEqual([]);
      // The pool goes on with healthy connections.
      await expect(
        store.transaction(async (client) => client.query('SELECT 1')),
      ).resolves.toBeTruthy();
    } finally {
      process.removeListener('uncaughtException', hear);
    }
  });
});

describe('the global order across a decimal digit boundary', () => {
  let own: TestDatabase;
  let ownStore: PostgresEventStore;
  beforeAll(async () => {
    own = await createTestDatabase(2);
    ownStore = new PostgresEventStore(own.pool);
  });
  afterAll(() => own.drop());

  it('pages through positions 9 and 10 (and transaction ids 999 and 1000) in number order, never text order', async () => {
    const vmId = uuidv7();
    const ofOneTask = testMetadata({ command: 'RenameVm', taskId: uuidv7() });
    // One transaction, twelve events: positions cross from one digit to two (the ids are
    // returned as text, and must not be sorted as text).
    const result = await ownStore.appendToStream(
      `vm-${vmId}`,
      'vm',
      0,
      Array.from({ length: 12 }, (_, i) => ({ ...renamed(vmId, `n${i}`), metadata: ofOneTask })),
    );
    expect(result.success).toBe(true);
    const read: string[] = [];
    let checkpoint: GlobalCheckpoint = START_OF_STORE;
    for (let page = 0; page < 10; page++) {
      const next = await ownStore.readAll(checkpoint, 5);
      if (next.events.length === 0) break;
      read.push(...next.events.filter((e) => e.streamId === `vm-${vmId}`).map((e) => e.eventId));
      checkpoint = next.checkpoint;
    }
    expect(read).toEqual((await ownStore.readStream(`vm-${vmId}`)).map((e) => e.eventId));
    const ofTask = await ownStore.readTask(ofOneTask.taskId!);
    expect(ofTask).toHaveLength(12);
    expect(ofTask.map((e) => Number(e.globalPosition))).toEqual(
      [...ofTask.map((e) => Number(e.globalPosition))].sort((a, b) => a - b),
    );
  });
});
