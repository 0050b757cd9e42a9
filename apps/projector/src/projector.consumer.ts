import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import {
  EVENT_TOPIC_PARTITIONS,
  PROJECTOR_GROUP,
  type RecordedEvent,
  allEventTopics,
  readEventMessage,
} from '@dolly/contracts';
import { PostgresEventStore, verifyAgainstStore } from '@dolly/event-store';
import { type DeadLetter, SupervisedConsumer, ensureTopics } from '@dolly/messaging';
import {
  DOLLY_CONFIG,
  DeadLetters,
  HealthRegistry,
  KAFKA,
  Metrics,
  PG_POOL,
} from '@dolly/platform';
import { LIVE_SCHEMA, PROJECTED_CHANNEL, applyEvents } from '@dolly/read-models';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import { PinoLogger } from 'nestjs-pino';
import type { Pool, PoolClient } from 'pg';

/**
 * Consumes Dolly's event topics into the read models. Each Kafka batch is one PostgreSQL
 * transaction that applies the events and records the partition's next offset; Kafka offsets are
 * committed only after it. A batch seen again (a crash between the two commits, a rebalance) is
 * recognised by the recorded offset, a republished event by its stream version.
 *
 * Only genuine events are applied: a message must be a Dolly CloudEvent valid against the published
 * schemas, and the store must hold that very event at its stream and version (one query per batch).
 * The rest are dead-lettered, and the partition goes on.
 */
@Injectable()
export class ProjectorConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private consumer: SupervisedConsumer | undefined;
  private readonly lagByPartition = new Map<string, number>();
  private readonly store: PostgresEventStore;
  private readonly applied;
  private readonly skipped;
  private readonly batchSeconds;
  private readonly lagGauge;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    private readonly metrics: Metrics,
    private readonly health: HealthRegistry,
    private readonly deadLetters: DeadLetters,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('projector');
    this.store = new PostgresEventStore(pool, { maxEventBytes: config.eventMaxBytes });
    this.applied = metrics.counter(
      'dolly_projector_events_applied_total',
      'Events applied to the read models',
      ['topic'],
    );
    this.skipped = metrics.counter(
      'dolly_projector_events_skipped_total',
      'Events seen before and skipped',
      ['reason'],
    );
    this.batchSeconds = metrics.histogram(
      'dolly_projector_batch_seconds',
      'Time to apply and commit one batch',
    );
    this.lagGauge = metrics.gauge('dolly_projector_lag_messages', 'Messages not yet projected', [
      'topic',
      'partition',
    ]);
  }

  async onApplicationBootstrap(): Promise<void> {
    const topics = allEventTopics(this.config.kafkaPrefix);
    await ensureTopics(this.kafka, [
      ...topics.map((topic) => ({ topic, numPartitions: EVENT_TOPIC_PARTITIONS })),
      this.deadLetters.topic,
    ]);
    const consumer = new SupervisedConsumer(
      this.kafka,
      {
        groupId: this.groupId,
        sessionTimeout: 10_000,
        heartbeatInterval: 1_000,
        maxWaitTimeInMs: 100,
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5_000 },
      },
      async (running) => {
        await running.subscribe({ topics, fromBeginning: true });
        await running.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          partitionsConsumedConcurrently: 1,
          eachBatch: (payload) => this.project(payload, running),
        });
      },
      {
        log: {
          warn: (message, extra) => this.logger.warn(extra, message),
          error: (message, extra) => this.logger.error(extra, message),
        },
      },
    );
    await consumer.run();
    this.consumer = consumer;
    this.health.register('kafka', async () =>
      consumer.crashed
        ? { status: 'down', details: { error: consumer.crashed } }
        : { status: 'up' },
    );
    this.health.register('projector-lag', async () => ({
      status: 'up',
      details: { messagesBehind: [...this.lagByPartition.values()].reduce((a, b) => a + b, 0) },
    }));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer?.stop();
  }

  /** One batch, committed through the consumer that fetched it. */
  private async project(
    { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload,
    consumer: Consumer,
  ): Promise<void> {
    if (batch.messages.length === 0 || !isRunning() || isStale()) return;
    const started = process.hrtime.bigint();
    const { topic, partition } = batch;
    const lastOffset = batch.lastOffset();
    const outcome = await this.store.transaction(async (client) => {
      // Wholly before a rebuild's switch-over or wholly after it, into the tables then live.
      await client.query('SELECT read_model_admin.lock_for_write()');
      const { rows } = await client.query<{ next_offset: string }>(
        `SELECT next_offset::text FROM ${LIVE_SCHEMA}.projector_offsets WHERE topic = $1 AND partition = $2 FOR UPDATE`,
        [topic, partition],
      );
      const nextOffset = BigInt(rows[0]?.next_offset ?? '0');
      const fresh = batch.messages.filter((message) => BigInt(message.offset) >= nextOffset);
      const { genuine, refused } = await this.sort(topic, partition, fresh, client);
      // Before the commit past them: a crash in between writes a letter twice, never loses one.
      await this.deadLetters.publish(this.groupId, refused);
      const result = await applyEvents(client, LIVE_SCHEMA, genuine);
      await client.query(
        `INSERT INTO ${LIVE_SCHEMA}.projector_offsets (topic, partition, next_offset) VALUES ($1, $2, $3)
         ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset`,
        [topic, partition, (BigInt(lastOffset) + 1n).toString()],
      );
      await client.query('SELECT pg_notify($1, $2)', [PROJECTED_CHANNEL, '']);
      return { ...result, alreadyApplied: batch.messages.length - fresh.length, refused };
    });
    resolveOffset(lastOffset);
    await consumer.commitOffsets([
      { topic, partition, offset: (BigInt(lastOffset) + 1n).toString() },
    ]);
    await heartbeat();

    this.deadLetters.count(this.groupId, outcome.refused);
    this.applied.inc({ topic }, outcome.applied);
    if (outcome.alreadyApplied) this.skipped.inc({ reason: 'offset' }, outcome.alreadyApplied);
    if (outcome.skippedAsDuplicates)
      this.skipped.inc({ reason: 'stream-version' }, outcome.skippedAsDuplicates);
    if (outcome.fetchedFromStore)
      this.logger.warn(
        { topic, partition, fetched: outcome.fetchedFromStore },
        'filled a stream gap from the store',
      );
    const lag = Math.max(0, Number(batch.highWatermark) - Number(lastOffset) - 1);
    this.lagByPartition.set(`${topic}:${partition}`, lag);
    this.lagGauge.set({ topic, partition: String(partition) }, lag);
    this.batchSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }

  private get groupId(): string {
    return `${this.config.kafkaPrefix}${PROJECTOR_GROUP}`;
  }

  /**
   * Genuine events (as the store holds them), in the partition's order, and letters for the rest:
   * what is not a Dolly event for this topic, and what the store does not hold as it came.
   */
  private async sort(
    topic: string,
    partition: number,
    messages: readonly KafkaMessage[],
    client: PoolClient,
  ): Promise<{ genuine: RecordedEvent[]; refused: DeadLetter[] }> {
    const checked = messages.map((message) => ({
      message,
      check: readEventMessage(message, topic, this.config.kafkaPrefix),
    }));
    const claimed = checked.flatMap(({ check }) => (check.ok ? [check.value] : []));
    const verdicts = (await verifyAgainstStore(this.store, claimed, client)).values();
    const genuine: RecordedEvent[] = [];
    const refused: DeadLetter[] = [];
    for (const { message, check } of checked) {
      const verdict = check.ok ? verdicts.next().value! : { genuine: false as const, ...check };
      if (verdict.genuine) genuine.push(verdict.event);
      else
        refused.push({
          topic,
          partition,
          offset: message.offset,
          message,
          reason: verdict.reason,
          detail: verdict.detail,
        });
    }
    return { genuine, refused };
  }
}
