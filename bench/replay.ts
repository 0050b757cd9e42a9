/**
 * npm run bench:replay: what the history costs an auditor and an appender, each against its floor
 * in the same run: verifying the tamper-evident chain and rebuilding every read model against
 * the raw read of the same events; appends with the chain against the same with its triggers
 * off; answers as of random instants (a first page of 50 VMs, one VM).
 *
 * BENCH_EVENTS (default 1000000) events over BENCH_STREAMS (20000) streams, and BENCH_LONG_STREAMS
 * (10) streams of BENCH_LONG_STREAM_EVENTS (5000) events, inserted a batch at a time through the
 * store's triggers; BENCH_APPEND_SECONDS (5) of one-event appends by
 * BENCH_APPENDERS (16) connections, each to streams of its own, through PostgresEventStore;
 * BENCH_ROUNDS (3) rounds of the raw read, the verification and the rebuild, their medians compared.
 */
import { PostgresEventStore, verifyEventChain } from '@dolly/event-store';
import {
  type Instant,
  objectsAsOf,
  pageAsOf,
  SNAPSHOT_EVERY,
  discardSchema,
  rebuildReadModels,
  switchOverReadModels,
  vmsProjection,
} from '@dolly/read-models';
import {
  type TestDatabase,
  createTestDatabase,
  appendGeneratedHistory,
  ensureTemplateDatabase,
  generatedVmId,
} from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import { ensureServices } from '../tools/dev/services';
import { report, round, summarise } from './support';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 20_000);
const APPEND_SECONDS = Number(process.env.BENCH_APPEND_SECONDS ?? 5);
const APPENDERS = Number(process.env.BENCH_APPENDERS ?? 16);
/** Besides: a few objects with long histories (a datastore's stream grows with every VM). */
const LONG_STREAMS = Number(process.env.BENCH_LONG_STREAMS ?? 10);
const LONG_STREAM_EVENTS = Number(process.env.BENCH_LONG_STREAM_EVENTS ?? 5_000);
async function generateHistory(db: TestDatabase): Promise<number> {
  const started = performance.now();
  await appendGeneratedHistory(db.pool, { events: EVENTS, streams: STREAMS }, (appended) => {
    if (appended % 200_000 === 0) console.log(`[bench] history: ${appended} events`);
  });
  await appendGeneratedHistory(db.pool, {
    events: LONG_STREAMS * LONG_STREAM_EVENTS,
    streams: LONG_STREAMS,
    firstStream: STREAMS,
  });
  await db.pool.query('VACUUM ANALYZE event_store.events');
  await db.pool.query('VACUUM ANALYZE event_store.event_chain');
  return (EVENTS + LONG_STREAMS * LONG_STREAM_EVENTS) / ((performance.now() - started) / 1000);
}

/** The floor of a verification: every event read once, in pages, as the verifier pages. */
async function rawRead(db: TestDatabase): Promise<number> {
  const started = performance.now();
  let after = '0';
  let read = 0;
  for (;;) {
    const { rows } = await db.pool.query<{ global_position: string }>(
      `SELECT e.global_position::text AS global_position, e.event_id, e.stream_id, e.stream_type,
              e.stream_version, e.type, e.schema_version, e.data::text AS data,
              e.metadata::text AS metadata, e.occurred_at, e.recorded_at
         FROM event_store.events e WHERE e.global_position > $1 ORDER BY e.global_position LIMIT 5000`,
      [after],
    );
    if (rows.length === 0) break;
    read += rows.length;
    after = rows[rows.length - 1].global_position;
  }
  const { rows: counted } = await db.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM event_store.events',
  );
  if (read !== counted[0].n) throw new Error(`Read ${read} events of ${counted[0].n}`);
  return read / ((performance.now() - started) / 1000);
}

/** One-event appends for APPEND_SECONDS by APPENDERS connections, each to streams of its own. */
async function appendRate(db: TestDatabase): Promise<number> {
  const store = new PostgresEventStore(db.pool);
  let appended = 0;
  const until = Date.now() + APPEND_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: APPENDERS }, async () => {
      const vmId = uuidv7();
      for (let version = 0; Date.now() < until; version++) {
        const result = await store.appendToStream(`vm-${vmId}`, 'vm', version, [
          {
            eventId: uuidv7(),
            type: 'VmRenamed',
            data: { vmId, name: `web-${version + 1}`, previousName: `web-${version}` },
            metadata: {
              actor: { id: 'bench-operator', role: 'operator' },
              correlationId: uuidv7(),
              causationId: null,
              taskId: null,
              command: 'RenameVm',
            },
            occurredAt: new Date().toISOString(),
          },
        ]);
        if (!result.success) throw new Error(`An append to vm-${vmId} conflicted`);
        appended += 1;
      }
    }),
  );
  return appended / APPEND_SECONDS;
}

const AS_OF_SAMPLES = Number(process.env.BENCH_AS_OF_SAMPLES ?? 100);

/**
 * As-of answers at random instants, as an auditor asks them: a first page of 50 VMs, one VM, one
 * of the VMs with a long history.
 */
async function asOfLatencies(db: TestDatabase) {
  const { rows } = await db.pool.query<{ first: string; last: string }>(
    'SELECT min(global_position)::text AS first, max(global_position)::text AS last FROM event_store.events',
  );
  const [first, last] = [Number(rows[0].first), Number(rows[0].last)];
  const instant = (): Instant => ({
    position: String(first + Math.floor(Math.random() * (last - first + 1))),
  });
  const timed = async (ask: () => Promise<unknown>, into: number[]) => {
    const started = performance.now();
    await ask();
    into.push(performance.now() - started);
  };
  const [page, one, long]: number[][] = [[], [], []];
  const anyOf = (count: number, from = 0) =>
    generatedVmId(from + Math.floor(Math.random() * count));
  for (let i = 0; i < AS_OF_SAMPLES; i++) {
    await timed(
      () =>
        pageAsOf(db.pool, vmsProjection, instant(), {
          after: undefined,
          limit: 50,
          keep: () => true,
        }),
      page,
    );
    await timed(() => objectsAsOf(db.pool, vmsProjection, instant(), [anyOf(STREAMS)]), one);
    await timed(
      () => objectsAsOf(db.pool, vmsProjection, instant(), [anyOf(LONG_STREAMS, STREAMS)]),
      long,
    );
  }
  return { inventory: summarise(page), vm: summarise(one), longStreamVm: summarise(long) };
}

/**
 * Every read model rebuilt from the whole history into fresh tables (the rate: the replay's),
 * then switched to, as `dolly admin rebuild` does.
 */
async function rebuildAndSwitch(db: TestDatabase) {
  const rebuilt = await rebuildReadModels(db.pool, { suffix: 'bench' });
  const started = performance.now();
  await switchOverReadModels(db.pool, 'bench', { checkpoint: rebuilt.checkpoint });
  return { eventsPerSecond: rebuilt.eventsPerSecond, switchOverMs: performance.now() - started };
}

/** A rebuild measured and dropped: a round before the last, whose rebuild goes live. */
async function rebuildAndDiscard(db: TestDatabase) {
  const rebuilt = await rebuildReadModels(db.pool, { suffix: 'bench' });
  await discardSchema(db.pool, rebuilt.schema);
  return rebuilt.eventsPerSecond;
}

/**
 * Rates are measured in ROUNDS rounds (each: the raw read, the verification, the rebuild) and
 * their medians compared: a shared machine's speed drifts by a fifth within minutes, and
 * interleaved rounds let the floor and the measure drift alike.
 */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const median = (samples: number[]) => summarise(samples).p50;

async function main(): Promise<void> {
  const services = await ensureServices((line) => console.log(`[bench] ${line}`));
  process.env.DATABASE_URL = services.databaseUrl;
  await ensureTemplateDatabase();

  // The floor of an append: the same store with the chain's two triggers off.
  const unchained = await createTestDatabase(APPENDERS + 2);
  const chained = await createTestDatabase(APPENDERS + 2);
  try {
    await unchained.pool.query(
      `ALTER TABLE event_store.events DISABLE TRIGGER events_chain, DISABLE TRIGGER events_chain_lock`,
    );
    console.log(
      `[bench] appends: ${APPENDERS} connections, ${APPEND_SECONDS} s, unchained then chained`,
    );
    const unchainedAppends = await appendRate(unchained);
    const chainedAppends = await appendRate(chained);
    // The appends' streams (renames of VMs never created) are no part of the history measured.
    for (const db of [unchained, chained])
      await db.pool.query(`SET session_replication_role = replica; DELETE FROM event_store.events;
        DELETE FROM event_store.event_chain; UPDATE event_store.chain_head SET chain_seq = 0,
        chain_hash = '\\x${'00'.repeat(32)}'; DELETE FROM event_store.outbox;
        SET session_replication_role = origin;`);
    console.log(
      `[bench] a history of ${EVENTS} events over ${STREAMS} streams, unchained then chained`,
    );
    const unchainedBatches = await generateHistory(unchained);
    const chainedBatches = await generateHistory(chained);
    await unchained.drop();

    // Each measure starts from a clean checkpoint: what the one before left dirty (the history's
    // writes above all) is flushed before it, not while it runs.
    const checkpoint = () => chained.pool.query('CHECKPOINT');
    const samples = { raw: [] as number[], verify: [] as number[], rebuild: [] as number[] };
    let events = 0;
    let switchOverMs = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      console.log(
        `[bench] round ${round} of ${ROUNDS}: the raw read, the verification, the rebuild`,
      );
      await checkpoint();
      samples.raw.push(await rawRead(chained));
      await checkpoint();
      const verifyStarted = performance.now();
      const verification = await verifyEventChain(chained.pool);
      samples.verify.push(
        verification.linksVerified / ((performance.now() - verifyStarted) / 1000),
      );
      if (!verification.intact)
        throw new Error(`The chain is broken: ${verification.firstBreak?.detail}`);
      events = verification.linksVerified;
      await checkpoint();
      if (round < ROUNDS) samples.rebuild.push(await rebuildAndDiscard(chained));
      else {
        // The last round's rebuild goes live, as `dolly admin rebuild` does.
        const last = await rebuildAndSwitch(chained);
        samples.rebuild.push(last.eventsPerSecond);
        switchOverMs = last.switchOverMs;
      }
    }
    const raw = median(samples.raw);
    const verifyPerSecond = median(samples.verify);
    const rebuild = median(samples.rebuild);
    console.log(
      `[bench] as-of answers at ${AS_OF_SAMPLES} random instants, then without snapshots`,
    );
    const asOf = await asOfLatencies(chained);
    await chained.pool.query('DELETE FROM read_model.state_snapshots');
    const withoutSnapshots = await asOfLatencies(chained);

    const result = {
      parameters: {
        events,
        rounds: ROUNDS,
        streams: STREAMS,
        longStreams: LONG_STREAMS,
        longStreamEvents: LONG_STREAM_EVENTS,
        snapshotEvery: SNAPSHOT_EVERY,
        appenders: APPENDERS,
        appendSeconds: APPEND_SECONDS,
      },
      events,
      rawRead: { eventsPerSecond: round(raw), rounds: samples.raw.map((rate) => round(rate)) },
      verify: {
        eventsPerSecond: round(verifyPerSecond),
        ratioToRawRead: round(verifyPerSecond / raw, 3),
        rounds: samples.verify.map((rate) => round(rate)),
      },
      append: {
        oneEventAppendsPerSecond: {
          chained: round(chainedAppends),
          unchained: round(unchainedAppends),
          ratio: round(chainedAppends / unchainedAppends, 3),
        },
        batchedEventsPerSecond: {
          chained: round(chainedBatches),
          unchained: round(unchainedBatches),
          ratio: round(chainedBatches / unchainedBatches, 3),
        },
      },
      rebuild: {
        eventsPerSecond: round(rebuild),
        ratioToRawRead: round(rebuild / raw, 3),
        switchOverMs: round(switchOverMs),
        rounds: samples.rebuild.map((rate) => round(rate)),
      },
      asOf: {
        inventoryP95Ms: round(asOf.inventory.p95),
        vmP95Ms: round(asOf.vm.p95),
        longStreamVmP95Ms: round(asOf.longStreamVm.p95),
        // The same questions once every snapshot is dropped: the long streams fold from their start.
        withoutSnapshotsP95Ms: round(withoutSnapshots.longStreamVm.p95),
        withSnapshots: asOf,
        withoutSnapshots,
      },
      goals: {
        verifyEventsPerSecond: 50_000,
        rebuildEventsPerSecond: 20_000,
        rebuildRatioToRawRead: 1 / 3,
        asOfInventoryP95Ms: 500,
        asOfVmP95Ms: 50,
      },
    };
    report(
      'replay',
      [
        [
          'rebuild every read model (events/s)',
          round(rebuild),
          round(raw),
          `${round(rebuild / raw, 3)}x`,
        ],
        ['as of an instant: 50 VMs, p95 (ms)', round(asOf.inventory.p95), '', ''],
        ['as of an instant: one VM, p95 (ms)', round(asOf.vm.p95), '', ''],
        [
          `as of an instant: one VM of ${LONG_STREAM_EVENTS} events, p95 (ms)`,
          round(asOf.longStreamVm.p95),
          round(withoutSnapshots.longStreamVm.p95),
          `${round(asOf.longStreamVm.p95 / withoutSnapshots.longStreamVm.p95, 3)}x`,
        ],
        ['switch-over to the rebuilt tables (ms)', round(switchOverMs), '', ''],
        [
          'verify the chain (events/s)',
          round(verifyPerSecond),
          round(raw),
          `${round(verifyPerSecond / raw, 3)}x`,
        ],
        [
          'one-event appends, chained (appends/s)',
          round(chainedAppends),
          round(unchainedAppends),
          `${round(chainedAppends / unchainedAppends, 3)}x`,
        ],
        [
          'batched inserts, chained (events/s)',
          round(chainedBatches),
          round(unchainedBatches),
          `${round(chainedBatches / unchainedBatches, 3)}x`,
        ],
      ],
      ['measure', 'Dolly', 'floor (raw read / chain off / no snapshots)', 'ratio'],
      result,
    );
  } finally {
    await chained.drop();
    await unchained.drop().catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
