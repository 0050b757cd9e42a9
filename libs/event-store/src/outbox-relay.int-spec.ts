import {
  EVENT_TOPIC_PARTITIONS,
  type RecordedEvent,
  allEventTopics,
  eventTopic,
} from '@dolly/contracts';
import { EventPublisher, ensureTopics } from '@dolly/messaging';
import {
  IsolatedKafka,
  type TestDatabase,
  consumeEvents,
  createTestDatabase,
  testKafka,
  testMetadata,
  uniquePrefix,
} from '@dolly/testing';
import type { Kafka } from 'kafkajs';
import { v7 as uuidv7 } from 'uuid';
import { type NewEvent, PostgresEventStore } from './event-store';
import { OutboxRelay } from './outbox-relay';

const metadata = testMetadata({ command: 'RenameVm' });
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function renamed(vmId: string, name: string): NewEvent {
  return {
    eventId: uuidv7(),
    type: 'VmRenamed',
    data: { vmId, name, previousName: 'x' },
    metadata,
    occurredAt: new Date().toISOString(),
  };
}

/** Appends `perStream` events to each of `streams` new VM streams, one append per event. */
async function appendMany(
  store: PostgresEventStore,
  streams: number,
  perStream: number,
  start = 0,
  vmIds = Array.from({ length: streams }, () => uuidv7()),
) {
  await Promise.all(
    vmIds.map(async (vmId) => {
      for (let i = start; i < start + perStream; i++) {
        const result = await store.appendToStream(`vm-${vmId}`, 'vm', i, [renamed(vmId, `n${i}`)]);
        if (!result.success) throw new Error('conflict');
      }
    }),
  );
  return vmIds;
}

/** Every stream's events arrived once each, in stream order. */
function expectOncePerStreamInOrder(events: RecordedEvent[], vmIds: string[], perStream: number) {
  const ids = events.map((e) => e.eventId);
  expect(new Set(ids).size).toBe(ids.length);
  for (const vmId of vmIds) {
    const versions = events.filter((e) => e.streamId === `vm-${vmId}`).map((e) => e.streamVersion);
    expect(versions).toEqual(Array.from({ length: perStream }, (_, i) => i + 1));
  }
}

/** A fresh prefix with Dolly's event topics made on the broker. */
async function freshTopics(kafka: Kafka): Promise<string> {
  const prefix = uniquePrefix();
  await ensureTopics(
    kafka,
    allEventTopics(prefix).map((topic) => ({ topic, numPartitions: EVENT_TOPIC_PARTITIONS })),
  );
  return prefix;
}

async function outboxSize(db: TestDatabase): Promise<number> {
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM event_store.outbox');
  return rows[0].n;
}

async function until(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('outbox relay', () => {
  let db: TestDatabase;
  let store: PostgresEventStore;
  beforeEach(async () => {
    db = await createTestDatabase();
    store = new PostgresEventStore(db.pool);
  });
  afterEach(() => db.drop());

  /** A relay to the prefix's topics; one that polls only after a minute relies on notifications. */
  function relayTo(kafka: Kafka, prefix: string, pollIntervalMs = 20) {
    const publisher = new EventPublisher(
      kafka,
      (event) => eventTopic(event.streamType, prefix),
      prefix,
    );
    return new OutboxRelay(db.pool, publisher, {
      databaseUrl: db.url,
      log: quiet,
      pollIntervalMs,
      maxBackoffMs: 500,
    });
  }

  it('publishes every event once, in order per stream, as CloudEvents keyed by stream, and empties the outbox', async () => {
    const kafka = testKafka();
    const prefix = await freshTopics(kafka);
    const relay = relayTo(kafka, prefix);
    relay.start();
    try {
      const vmIds = await appendMany(store, 10, 20);
      const events = await consumeEvents(kafka, [eventTopic('vm', prefix)], 200);
      expectOncePerStreamInOrder(events, vmIds, 20);
      await until(async () => (await outboxSize(db)) === 0);
    } finally {
      await relay.stop();
    }
  }, 60_000);

  it('does not publish again what a relay that died mid-batch already sent', async () => {
    const kafka = testKafka();
    const prefix = await freshTopics(kafka);
    const vmIds = await appendMany(store, 4, 5);
    // A previous relay sent these but died before deleting them from the outbox.
    const sentBeforeDying = (await store.readAll({ transactionId: '0', globalPosition: '0' }, 12))
      .events;
    const publisher = new EventPublisher(
      kafka,
      (event) => eventTopic(event.streamType, prefix),
      prefix,
    );
    await publisher.publish(sentBeforeDying);
    await publisher.close();
    expect(await outboxSize(db)).toBe(20);

    const relay = relayTo(kafka, prefix);
    relay.start();
    try {
      await until(async () => (await outboxSize(db)) === 0);
      const events = await consumeEvents(kafka, [eventTopic('vm', prefix)], 20);
      expect(events).toHaveLength(20);
      expectOncePerStreamInOrder(events, vmIds, 5);
    } finally {
      await relay.stop();
    }
  }, 60_000);

  it('gives up a send that never answers (kafkajs after a broker restart), and publishes each event once all the same', async () => {
    const kafka = testKafka();
    const prefix = await freshTopics(kafka);
    /** Its first send hangs for good, with no error, as a kafkajs call can. */
    class HangingOnce extends EventPublisher {
      hung = false;
      override async publish(events: readonly RecordedEvent[]): Promise<void> {
        if (!this.hung) {
          this.hung = true;
          return new Promise(() => undefined);
        }
        return super.publish(events);
      }
    }
    const publisher = new HangingOnce(
      kafka,
      (event) => eventTopic(event.streamType, prefix),
      prefix,
    );
    const relay = new OutboxRelay(db.pool, publisher, {
      databaseUrl: db.url,
      log: quiet,
      pollIntervalMs: 20,
      maxBackoffMs: 200,
      kafkaStepTimeoutMs: 1000,
    });
    relay.start();
    try {
      const vmIds = await appendMany(store, 3, 4);
      await until(async () => (await outboxSize(db)) === 0, 20_000);
      expect(publisher.hung).toBe(true);
      expectOncePerStreamInOrder(
        await consumeEvents(kafka, [eventTopic('vm', prefix)], 12),
        vmIds,
        4,
      );
    } finally {
      await relay.stop();
    }
  }, 60_000);

  it('publishes an appended event at once, woken by its commit rather than by polling', async () => {
    const kafka = testKafka();
    const prefix = await freshTopics(kafka);
    // It would look by itself only after a minute.
    const relay = relayTo(kafka, prefix, 60_000);
    relay.start();
    try {
      await until(async () => relay.status.leader);
      // Its first look found nothing: it sleeps now.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await appendMany(store, 1, 1);
      await until(async () => (await outboxSize(db)) === 0, 10_000);
      expect(await consumeEvents(kafka, [eventTopic('vm', prefix)], 1)).toHaveLength(1);
    } finally {
      await relay.stop();
    }
  }, 60_000);

  it('publishes an event held back behind an older open transaction as soon as that one ends, though its end notifies nothing', async () => {
    const kafka = testKafka();
    const prefix = await freshTopics(kafka);
    const relay = relayTo(kafka, prefix, 60_000);
    relay.start();
    const older = await db.pool.connect();
    try {
      await until(async () => relay.status.leader);
      // A transaction with an id older than the append's, still open: the store's order holds
      // the event back until it ends.
      await older.query('BEGIN');
      await older.query('SELECT pg_current_xact_id()');
      await appendMany(store, 1, 1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await outboxSize(db)).toBe(1);
      await older.query('COMMIT');
      await until(async () => (await outboxSize(db)) === 0, 10_000);
      expect(await consumeEvents(kafka, [eventTopic('vm', prefix)], 1)).toHaveLength(1);
    } finally {
      await older.query('ROLLBACK').catch(() => undefined);
      older.release();
      await relay.stop();
    }
  }, 60_000);

  describe('when Kafka goes down', () => {
    let broker: IsolatedKafka;
    beforeAll(async () => {
      broker = await IsolatedKafka.start();
    }, 120_000);
    afterAll(() => broker.destroy(), 60_000);

    it('keeps commands succeeding, holds events in the outbox, and delivers them all once, in order, when Kafka is back', async () => {
      const kafka = testKafka(broker.env);
      const prefix = await freshTopics(kafka);
      const relay = relayTo(kafka, prefix);
      relay.start();
      try {
        const vmIds = await appendMany(store, 5, 10);
        await until(async () => (await outboxSize(db)) === 0);

        await broker.stop();
        // Appends go on while Kafka is away, and while the relay keeps failing.
        await appendMany(store, 5, 10, 10, vmIds);
        // The relay notices (its sends fail and it backs off) while the events wait in the outbox.
        await until(async () => relay.status.consecutiveFailures > 0, 60_000);
        expect(await outboxSize(db)).toBe(50);

        await broker.start();
        await until(async () => (await outboxSize(db)) === 0, 60_000);
        const events = await consumeEvents(kafka, [eventTopic('vm', prefix)], 100);
        expect(events).toHaveLength(100);
        expectOncePerStreamInOrder(events, vmIds, 20);
      } finally {
        await relay.stop();
      }
    }, 180_000);
  });
});
