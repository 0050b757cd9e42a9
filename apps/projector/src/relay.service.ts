import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import {
  EVENT_TOPIC_PARTITIONS,
  type RecordedEvent,
  allEventTopics,
  eventTopic,
} from '@dolly/contracts';
import { OutboxRelay } from '@dolly/event-store';
import { EventPublisher, ensureTopics } from '@dolly/messaging';
import { DOLLY_CONFIG, HealthRegistry, KAFKA, Metrics, PG_POOL } from '@dolly/platform';
import type { Kafka } from 'kafkajs';
import { PinoLogger } from 'nestjs-pino';
import type { Pool } from 'pg';

/**
 * Runs the outbox relay beside the projector: both are pipeline plumbing, and here the relay does
 * not compete with HTTP requests for the API's event loop. Several projectors may run: one relay
 * leads per database (an advisory lock), the others wait to take over.
 */
@Injectable()
export class RelayService implements OnApplicationBootstrap, OnApplicationShutdown {
  private relay: OutboxRelay | undefined;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    private readonly metrics: Metrics,
    private readonly health: HealthRegistry,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('relay');
  }

  async onApplicationBootstrap(): Promise<void> {
    const prefix = this.config.kafkaPrefix;
    // Topics are made up front with our partition count; commands succeed even if Kafka is down now.
    await ensureTopics(
      this.kafka,
      allEventTopics(prefix).map((topic) => ({ topic, numPartitions: EVENT_TOPIC_PARTITIONS })),
    ).catch((error: Error) =>
      this.logger.warn(
        { error: error.message },
        'could not make the event topics yet; the relay will retry',
      ),
    );
    const published = this.metrics.counter(
      'dolly_relay_events_published_total',
      'Events the outbox relay published to Kafka',
    );
    const waited = this.metrics.histogram(
      'dolly_relay_outbox_wait_seconds',
      'From commit to published on Kafka, per event',
    );
    const publisher = new EventPublisher(
      this.kafka,
      (event: RecordedEvent) => eventTopic(event.streamType, prefix),
      prefix,
    );
    const log = {
      info: (message: string, extra?: Record<string, unknown>) =>
        this.logger.info(extra ?? {}, message),
      warn: (message: string, extra?: Record<string, unknown>) =>
        this.logger.warn(extra ?? {}, message),
      error: (message: string, extra?: Record<string, unknown>) =>
        this.logger.error(extra ?? {}, message),
    };
    const skipped = this.metrics.counter(
      'dolly_relay_events_skipped_total',
      'Events the broker refused as too large: kept in the store, left out of Kafka',
    );
    const heldBack = this.metrics.gauge(
      'dolly_relay_held_back_seconds',
      'How long committed events have waited behind an older transaction still open (0: none)',
    );
    this.relay = new OutboxRelay(this.pool, publisher, {
      databaseUrl: this.config.databaseUrl,
      log,
      maxBatchBytes: this.config.eventMaxBytes,
      heldBackWarningMs: this.config.relayHeldBackWarningMs,
      onPublished: (events, waitedSeconds) => {
        published.inc(events.length);
        for (const seconds of waitedSeconds) waited.observe(seconds);
      },
      onSkipped: () => skipped.inc(),
      onHeldBack: (seconds) => heldBack.set(seconds),
    });
    this.relay.start();
    const lag = this.metrics.gauge('dolly_relay_outbox_events', 'Events waiting in the outbox');
    this.health.register('relay', async () => {
      const status = this.relay!.status;
      const pending = await this.relay!.pendingCount();
      lag.set(pending);
      const failing = status.consecutiveFailures > 0;
      return {
        status: failing ? 'down' : 'up',
        details: {
          leader: status.leader,
          outboxEvents: pending,
          lastError: status.lastError,
          skippedEvents: status.skippedEvents,
          // Who keeps committed events from being published, past DOLLY_RELAY_HELD_BACK_WARNING_MS.
          heldBack: status.heldBack,
        },
      };
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.relay?.stop();
  }
}
