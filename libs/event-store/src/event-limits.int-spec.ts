/**
 * Nothing stuck on one event: the store refuses an event too large to publish, the relay sends
 * batches bounded in bytes, leaves out (and names) what the broker still refuses, and names the
 * transaction, in any database of the cluster, that keeps committed events from it.
 *
 * On a cluster of its own: the transaction it leaves open holds back every reader of the global
 * order in the cluster, the other test files' too.
 */
import {
  EVENT_TOPIC_PARTITIONS,
  type RecordedEvent,
  allEventTopics,
  eventTopic,
} from '@dolly/contracts';
import { EventPublisher, ensureTopics } from '@dolly/messaging';
import {
  IsolatedPostgres,
  type TestDatabase,
  consumeEvents,
  testKafka,
  testMetadata,
  uniquePrefix,
} from '@dolly/testing';
import type { Kafka } from 'kafkajs';
import { Client } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { BatchedAppends } from './batched-appends';
import { EventTooLargeError, type NewEvent, PostgresEventStore } from './event-store';
import { OutboxRelay, type RelayLog } from './outbox-relay';

const metadata = testMetadata({ command: 'RenameVm' });

/** A rename whose name is padded to make the event about `bytes` large. */
function renamed(vmId: string, name: string, bytes = 0): NewEvent {
  return {
    eventId: uuidv7(),
    type: 'VmRenamed',
    data: { vmId, name: name + 'x'.repeat(bytes), previousName: 'x' },
    metadata,
    occurredAt: new Date().toISOString(),
  };
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function recordingLog() {
  const lines: { level: string; message: string; extra?: Record<string, unknown> }[] = [];
  const log: RelayLog = {
    info: (message, extra) => lines.push({ level: 'info', message, extra }),
    warn: (message, extra) => lines.push({ level: 'warn', message, extra }),
    error: (message, extra) => lines.push({ level: 'error', message, extra }),
  };
  return { lines, log };
}

let cluster: IsolatedPostgres;
let db: TestDatabase;
beforeAll(async () => {
  cluster = await IsolatedPostgres.start();
  db = await cluster.createDatabase();
}, 120_000);
afterAll(async () => {
  await db?.drop();
  await cluster?.destroy();
});

async function outboxSize(): Promise<number> {
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM event_store.outbox');
  return rows[0].n;
}

describe('the event store', () => {
  const store = () => new PostgresEventStore(db.pool, { maxEventBytes: 10_000 });

  it('refuses at once an append that would make an event larger than the limit, and writes nothing', async () => {
    const vmId = uuidv7();
    const refused = store().appendToStream(`vm-${vmId}`, 'vm', 0, [
      renamed(vmId, 'small'),
      renamed(vmId, 'large', 20_000),
    ]);
    await expect(refused).rejects.toBeInstanceOf(EventTooLargeError);
    await expect(refused).rejects.toMatchObject({
      kind: 'rule-violation',
      code: 'EVENT.TOO_LARGE',
      reasons: [
        { code: 'EVENT.TOO_LARGE', detail: expect.stringMatching(/VmRenamed would be \d+ bytes/) },
      ],
    });
    expect(await store().streamVersion(`vm-${vmId}`)).toBe(0);
    // Just under the limit goes.
    await expect(
      store().appendToStream(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'fits', 8_000)]),
    ).resolves.toMatchObject({
      success: true,
    });
  });

  it('refuses it in a group commit too, alone: the appends beside it go', async () => {
    const appends = new BatchedAppends(db.pool, store());
    const [small, large] = [uuidv7(), uuidv7()];
    const results = await Promise.allSettled([
      appends.append(`vm-${small}`, 'vm', 0, [renamed(small, 'small')]),
      appends.append(`vm-${large}`, 'vm', 0, [renamed(large, 'large', 20_000)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(EventTooLargeError);
  });
});

describe('the outbox relay', () => {
  let kafka: Kafka;
  let prefix: string;
  const store = () => new PostgresEventStore(db.pool, { maxEventBytes: 200_000 });

  beforeAll(async () => {
    // What the store's tests appended is not for these topics.
    await db.pool.query('DELETE FROM event_store.outbox');
    kafka = testKafka();
    prefix = uniquePrefix();
    // The broker takes less than the store allows (an operator's topic setting, an older broker).
    await ensureTopics(
      kafka,
      allEventTopics(prefix).map((topic) => ({
        topic,
        numPartitions: EVENT_TOPIC_PARTITIONS,
        configEntries: [{ name: 'max.message.bytes', value: '30000' }],
      })),
    );
  });

  function relay(log: RelayLog, extra: Partial<ConstructorParameters<typeof OutboxRelay>[2]> = {}) {
    const publisher = new EventPublisher(
      kafka,
      (event) => eventTopic(event.streamType, prefix),
      prefix,
    );
    return new OutboxRelay(db.pool, publisher, {
      databaseUrl: db.url,
      log,
      pollIntervalMs: 20,
      maxBackoffMs: 200,
      ...extra,
    });
  }

  it('skips, with an error naming it, an event the broker refuses as too large, and publishes the rest', async () => {
    const { lines, log } = recordingLog();
    const skipped: RecordedEvent[] = [];
    const running = relay(log, { onSkipped: (event) => skipped.push(event) });
    const vmId = uuidv7();
    await store().appendToStream(`vm-${vmId}`, 'vm', 0, [
      renamed(vmId, 'before'),
      renamed(vmId, 'refused', 50_000),
      renamed(vmId, 'after'),
    ]);
    running.start();
    try {
      const published = await consumeEvents(kafka, [eventTopic('vm', prefix)], 2);
      expect(published.map((e) => [e.streamVersion, (e.data as { name: string }).name])).toEqual([
        [1, 'before'],
        [3, 'after'],
      ]);
      await until(async () => (await outboxSize()) === 0);
      expect(skipped.map((e) => e.streamVersion)).toEqual([2]);
      expect(running.status.skippedEvents).toBe(1);
      expect(lines.filter((l) => l.level === 'error')).toEqual([
        expect.objectContaining({
          message: expect.stringMatching(/skipped an event the broker refused as too large/),
          extra: expect.objectContaining({
            streamId: `vm-${vmId}`,
            streamVersion: 2,
            type: 'VmRenamed',
          }),
        }),
      ]);
    } finally {
      await running.stop();
    }
  }, 120_000);

  it('bounds each batch in bytes, so many events of one stream do not make a batch the broker refuses', async () => {
    const { lines, log } = recordingLog();
    const batches: number[] = [];
    const running = relay(log, {
      maxBatchBytes: 25_000,
      onPublished: (events) => batches.push(events.length),
    });
    const vmId = uuidv7();
    // Forty events of 5 KB on one partition: 200 KB, far more than the topic's 30 KB a batch.
    for (let version = 0; version < 40; version += 10) {
      await store().appendToStream(
        `vm-${vmId}`,
        'vm',
        version,
        Array.from({ length: 10 }, (_, i) => renamed(vmId, `n${version + i}`, 5_000)),
      );
    }
    running.start();
    try {
      const published = await consumeEvents(kafka, [eventTopic('vm', prefix)], 40 + 2);
      expect(published.filter((e) => e.streamId === `vm-${vmId}`)).toHaveLength(40);
      expect(Math.max(...batches)).toBeLessThanOrEqual(5);
      expect(running.status.skippedEvents).toBe(0);
      expect(lines.filter((l) => l.level !== 'info')).toEqual([]);
    } finally {
      await running.stop();
    }
  }, 120_000);

  it('names the transaction left open in another database that holds it back, and says when it is free', async () => {
    const { lines, log } = recordingLog();
    const heldBackSeconds: number[] = [];
    const running = relay(log, {
      heldBackWarningMs: 500,
      onHeldBack: (seconds) => heldBackSeconds.push(seconds),
    });
    running.start();
    // Someone's session in another database of the cluster, left in a transaction with an id.
    const holder = new Client({
      connectionString: cluster.url,
      application_name: 'forgotten-psql',
    });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      const { rows } = await holder.query<{ pid: number }>(
        'SELECT pg_backend_pid() AS pid, pg_current_xact_id()',
      );
      const vmId = uuidv7();
      await store().appendToStream(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'waits')]);
      await until(() => running.status.heldBack?.holder?.pid === rows[0].pid);
      expect(running.status.heldBack).toMatchObject({
        seconds: expect.any(Number),
        holder: { pid: rows[0].pid, applicationName: 'forgotten-psql', database: 'postgres' },
      });
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          message: expect.stringMatching(/held back/),
          extra: expect.objectContaining({
            holder: expect.objectContaining({
              pid: rows[0].pid,
              applicationName: 'forgotten-psql',
            }),
          }),
        }),
      );
      expect(Math.max(...heldBackSeconds)).toBeGreaterThan(0.5);
      expect(await outboxSize()).toBe(1);

      await holder.query('COMMIT');
      await until(async () => (await outboxSize()) === 0 && running.status.heldBack === null);
      expect(lines.at(-1)?.message).toMatch(/no longer held back|published/);
      expect(heldBackSeconds.at(-1)).toBe(0);
    } finally {
      await holder.end();
      await running.stop();
    }
  }, 120_000);
});
