import {
  EVENT_COLUMNS,
  type GlobalCheckpoint,
  LAST_GLOBAL_POSITION,
  PostgresEventStore,
  rowToEvent,
} from '@dolly/event-store';
import type { RecordedEvent } from '@dolly/contracts';
import type { Pool, PoolClient } from 'pg';
import {
  BOOKKEEPING_TABLES,
  PROJECTIONS,
  READ_MODEL_TABLES,
  applyEvents,
} from './projector-engine';
import { LIVE_SCHEMA, type Projection, ProjectionTarget } from './projection';

/**
 * Blue/green rebuilds of the read models. The whole history is replayed into fresh tables (made
 * by `read_model_admin.prepare_rebuild`, with the owner's rights: see its migration) while the
 * live ones serve and the projector keeps writing them; then, in one short transaction that holds
 * the projector's writes off, the last events are applied and the fresh tables take the live
 * ones' place (`read_model_admin.switch_over`). Readers never wait longer than that transaction.
 */

/** How long a rebuild waits for a long transaction elsewhere to let the last events be read. */
const HORIZON_WAIT_MS = 120_000;
/** Catching up stops outside the lock once a page is shorter than this: the rest is brief. */
const CAUGHT_UP_BELOW = 200;
/**
 * The switch takes the live tables only when none is in use, and waits between tries holding
 * nothing: a reader never waits on it for longer than its one short transaction.
 */
const SWITCH_TRY_EVERY_MS = 20;
const SWITCH_GIVES_UP_AFTER_MS = 120_000;

/** Where a rebuild writes: this schema, made for it. */
export const rebuildSchemaOf = (suffix: string) => `read_model_rebuild_${suffix}`;
export const retiredSchemaOf = (suffix: string) => `read_model_retired_${suffix}`;

export interface RebuildProgress {
  phase: 'replay' | 'switch-over';
  /** Events replayed so far, and in all (the store's count when the rebuild began, or more). */
  events: number;
  total: number;
  /** Events replayed per second since the rebuild began. */
  perSecond: number;
}

export interface RebuildOptions {
  /** Names the rebuild's schema: 1 to 32 of a-z, 0-9 and _ (a task's id without dashes). */
  suffix: string;
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (progress: RebuildProgress) => void | Promise<void>;
}

export interface RebuildResult {
  schema: string;
  events: number;
  /** Where in the store the replay stopped: the switch-over catches up from here. */
  checkpoint: GlobalCheckpoint;
  eventsPerSecond: number;
}

const q = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

/**
 * Replays every event into a fresh schema shaped like the live one (`rebuildSchemaOf(suffix)`),
 * not touching the live tables. Compare with `compareReadModels`, take it live with
 * `switchOverReadModels`, or drop it with `discardSchema`. Aborted, it leaves the schema for the
 * caller to discard.
 */
export async function rebuildReadModels(
  pool: Pool,
  { suffix, batchSize = 5000, signal, onProgress }: RebuildOptions,
): Promise<RebuildResult> {
  const { rows: made } = await pool.query<{ schema: string }>(
    'SELECT read_model_admin.prepare_rebuild($1) AS schema',
    [suffix],
  );
  const schema = made[0].schema;
  const store = new PostgresEventStore(pool);
  // Events committed before the rebuild began are all read, even those a transaction still open
  // elsewhere in the cluster holds behind the snapshot horizon for a while.
  const { rows } = await pool.query<{ count: string }>(
    'SELECT count(*) AS count FROM event_store.events',
  );
  const committedAtStart = Number(rows[0].count);
  const started = performance.now();
  const rate = (events: number) => events / Math.max(1e-3, (performance.now() - started) / 1000);
  const report = (events: number) =>
    onProgress?.({
      phase: 'replay',
      events,
      total: Math.max(events, committedAtStart),
      perSecond: rate(events),
    });
  // Every event of a transaction that had ended when the replay began is read by the replay;
  // the store's order goes on from there.
  const { rows: horizon } = await pool.query<{ xmin: string }>(
    'SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin',
  );
  const xmin = horizon[0].xmin;
  const copied = PROJECTIONS.filter((projection) => projection.copyFromStore);
  const copying = copyFromStore(pool, suffix, copied, xmin);
  let events: number;
  try {
    events = await replayByStream(
      pool,
      store,
      schema,
      PROJECTIONS.filter((projection) => !copied.includes(projection)),
      xmin,
      { batchSize, signal, report },
    );
  } catch (error) {
    await copying.cancel();
    throw error;
  }
  await copying.done;
  let checkpoint: GlobalCheckpoint = {
    transactionId: (BigInt(xmin) - 1n).toString(),
    globalPosition: LAST_GLOBAL_POSITION,
  };
  const deadline = Date.now() + HORIZON_WAIT_MS;
  for (;;) {
    signal?.throwIfAborted();
    const page = await store.readAll(checkpoint, batchSize);
    if (page.events.length === 0) {
      if (events >= committedAtStart) {
        // Replayed unlogged: written to the log once, whole, before it can go live.
        await pool.query('SELECT read_model_admin.make_durable($1)', [suffix]);
        return { schema, events, checkpoint, eventsPerSecond: rate(events) };
      }
      if (Date.now() > deadline)
        throw new Error(
          `Rebuild read ${events} of ${committedAtStart} events: the snapshot horizon did not move`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    await replayPage(store, schema, page.events);
    events += page.events.length;
    checkpoint = page.checkpoint;
    await report(events);
  }
}

/** One page into the rebuild's tables, by every projection or those named. */
async function replayPage(
  store: PostgresEventStore,
  schema: string,
  events: readonly RecordedEvent[],
  projections: readonly Projection[] = PROJECTIONS,
): Promise<void> {
  await store.transaction(async (client) => {
    // A crash loses the rebuild whatever is flushed: its next attempt starts again.
    await client.query('SET LOCAL synchronous_commit = off');
    await applyEvents(client, schema, events, projections);
  });
}

/**
 * The projections that copy the store's rows, filled up to the horizon in a session of their
 * own beside the replay (the other core's work): their tables logged while empty and with no
 * index, then filled, then given their indexes (`prepare_copy`, `make_durable`). Cancelled,
 * the statement running is stopped rather than waited for.
 */
function copyFromStore(
  pool: Pool,
  suffix: string,
  projections: readonly Projection[],
  horizon: string,
): { done: Promise<void>; cancel(): Promise<void> } {
  let backend: number | undefined;
  let cancelled = false;
  // Between statements a cancel is seen here; during one, pg_cancel_backend stops it.
  const goOn = () => {
    if (cancelled) throw new Error('The rebuild stopped: its copy from the store stops too');
  };
  const done = (async () => {
    if (projections.length === 0) return;
    const client = await pool.connect();
    backend = (client as PoolClient & { processID: number }).processID;
    try {
      goOn();
      const target = new ProjectionTarget(client, rebuildSchemaOf(suffix));
      const tables = projections.flatMap((projection) => projection.tables);
      for (const table of tables)
        await client.query('SELECT read_model_admin.prepare_copy($1, $2)', [suffix, table]);
      await client.query('BEGIN');
      await client.query('SET LOCAL synchronous_commit = off');
      for (const projection of projections) {
        goOn();
        await projection.copyFromStore!(target, horizon);
      }
      await client.query('COMMIT');
      for (const table of tables) {
        goOn();
        await client.query('SELECT read_model_admin.make_durable($1, $2)', [suffix, table]);
      }
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  })();
  // Awaited once the replay is done; a failure before then is not unhandled meanwhile.
  done.catch(() => undefined);
  return {
    done,
    async cancel() {
      if (cancelled) return;
      cancelled = true;
      if (backend !== undefined)
        await pool.query('SELECT pg_cancel_backend($1)', [backend]).catch(() => undefined);
      await done.catch(() => undefined);
    },
  };
}

/** Events of transactions that had ended by the horizon, stream by stream, a page at a time. */
const BY_STREAM = `
  SELECT ${EVENT_COLUMNS} FROM event_store.events e
   WHERE (e.stream_id, e.stream_version) > ($1::text, $2::int) AND e.transaction_id < $3::xid8
   ORDER BY e.stream_id, e.stream_version
   LIMIT $4`;

/**
 * Most of the history, object by object: every event of a transaction that had ended when the
 * replay began (the snapshot horizon), in stream order. An object's events then come together,
 * so its row is read and written once a page rather than once an event. The projections depend
 * on the order within a stream only (the projector's Kafka partitions promise no more). Returns
 * how many events it replayed.
 */
async function replayByStream(
  pool: Pool,
  store: PostgresEventStore,
  schema: string,
  projections: readonly Projection[],
  horizon: string,
  options: {
    batchSize: number;
    signal: AbortSignal | undefined;
    report: (events: number) => void | Promise<void>;
  },
): Promise<number> {
  const read = (after: { streamId: string; version: number }) =>
    pool.query<Parameters<typeof rowToEvent>[0]>(BY_STREAM, [
      after.streamId,
      after.version,
      horizon,
      options.batchSize,
    ]);
  let events = 0;
  // The next page is read while this one is applied.
  let next = read({ streamId: '', version: 0 });
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const { rows } = await next;
      if (rows.length === 0) break;
      const page = rows.map(rowToEvent);
      const last = page[page.length - 1];
      next = read({ streamId: last.streamId, version: last.streamVersion });
      await replayPage(store, schema, page, projections);
      events += page.length;
      await options.report(events);
    }
  } finally {
    // Stopped early, a read is still in flight: its answer (or error) is not wanted.
    await next.catch(() => undefined);
  }
  return events;
}

/**
 * Takes a rebuild live: catches it up with the store while the live tables serve, then, holding
 * the projector's writes off, applies what is left (events appended meanwhile, and any the live
 * projector applied that the replay passed by: a transaction that committed late) and swaps the
 * tables. The retired ones are dropped after. Returns how many events the catching up applied.
 */
export async function switchOverReadModels(
  pool: Pool,
  suffix: string,
  from: { checkpoint: GlobalCheckpoint; batchSize?: number; signal?: AbortSignal },
): Promise<{ caughtUp: number }> {
  const schema = rebuildSchemaOf(suffix);
  const store = new PostgresEventStore(pool);
  const batchSize = from.batchSize ?? 1000;
  let checkpoint = from.checkpoint;
  let caughtUp = 0;
  for (;;) {
    from.signal?.throwIfAborted();
    const page = await store.readAll(checkpoint, batchSize);
    if (page.events.length > 0) {
      await replayPage(store, schema, page.events);
      caughtUp += page.events.length;
      checkpoint = page.checkpoint;
    }
    if (page.events.length < CAUGHT_UP_BELOW) break;
  }
  const deadline = Date.now() + SWITCH_GIVES_UP_AFTER_MS;
  for (;;) {
    from.signal?.throwIfAborted();
    const applied = await store.transaction(async (client) => {
      const { rows } = await client.query<{ taken: boolean }>(
        'SELECT read_model_admin.try_lock_for_switch() AS taken',
      );
      if (!rows[0].taken) return null;
      const last = await applyRest(client, store, schema, checkpoint, batchSize);
      await client.query('SELECT read_model_admin.switch_over($1)', [suffix]);
      return last;
    });
    if (applied !== null) {
      caughtUp += applied;
      break;
    }
    if (Date.now() > deadline)
      throw new Error(
        `The switch-over found the live read models in use for ${SWITCH_GIVES_UP_AFTER_MS / 1000} s on end (a long read, as an audit export?); the live tables serve on`,
      );
    await new Promise((resolve) => setTimeout(resolve, SWITCH_TRY_EVERY_MS));
  }
  await discardSchema(pool, retiredSchemaOf(suffix));
  return { caughtUp };
}

/** Under the switch lock: the events after `checkpoint`, and what the live tables have beyond. */
async function applyRest(
  client: PoolClient,
  store: PostgresEventStore,
  schema: string,
  checkpoint: GlobalCheckpoint,
  batchSize: number,
): Promise<number> {
  let applied = 0;
  for (let at = checkpoint; ;) {
    const page = await store.readAll(at, batchSize, client);
    if (page.events.length === 0) break;
    applied += (await applyEvents(client, schema, page.events)).applied;
    at = page.checkpoint;
  }
  const { rows } = await client.query<Parameters<typeof rowToEvent>[0]>(
    `WITH behind AS (
       SELECT live.stream_id AS behind_stream, coalesce(fresh.version, 0) AS applied_version,
              live.version AS live_version
         FROM ${q(LIVE_SCHEMA)}.projector_streams live
         LEFT JOIN ${q(schema)}.projector_streams fresh USING (stream_id)
        WHERE live.version > coalesce(fresh.version, 0))
     SELECT ${EVENT_COLUMNS} FROM event_store.events e
       JOIN behind ON e.stream_id = behind_stream
        AND e.stream_version > applied_version AND e.stream_version <= live_version
      ORDER BY e.global_position`,
  );
  if (rows.length > 0) applied += (await applyEvents(client, schema, rows.map(rowToEvent))).applied;
  return applied;
}

export interface TableDifference {
  table: string;
  /** Rows in the first schema that the second lacks, and the other way round. */
  onlyInFirst: number;
  onlyInSecond: number;
}

/** Row-for-row comparison of the read models in two schemas. Empty means equal. */
export async function compareReadModels(
  pool: Pool,
  first: string,
  second: string,
): Promise<TableDifference[]> {
  const differences: TableDifference[] = [];
  for (const table of READ_MODEL_TABLES) {
    const a = `${q(first)}.${q(table)}`;
    const b = `${q(second)}.${q(table)}`;
    const { rows } = await pool.query<{ only_in_first: number; only_in_second: number }>(
      `SELECT (SELECT count(*) FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b}) x)::int AS only_in_first,
              (SELECT count(*) FROM (SELECT * FROM ${b} EXCEPT ALL SELECT * FROM ${a}) y)::int AS only_in_second`,
    );
    const { only_in_first: onlyInFirst, only_in_second: onlyInSecond } = rows[0];
    if (onlyInFirst || onlyInSecond) differences.push({ table, onlyInFirst, onlyInSecond });
  }
  return differences;
}

/** Drops a rebuild's or a retired schema; the function refuses any other. */
export async function discardSchema(pool: Pool, schema: string): Promise<void> {
  await pool.query('SELECT read_model_admin.discard($1)', [schema]);
}

export { BOOKKEEPING_TABLES };
