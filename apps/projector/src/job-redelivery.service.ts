import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import { type RecordedEvent, eventTopic } from '@dolly/contracts';
import { doublingPause, taskStreamId } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { EventPublisher } from '@dolly/messaging';
import { DOLLY_CONFIG, KAFKA, Metrics, PG_POOL } from '@dolly/platform';
import type { Kafka } from 'kafkajs';
import { PinoLogger } from 'nestjs-pino';
import type { Pool } from 'pg';

/** At most this many jobs are sent again per look, the longest waiting first. */
const JOBS_PER_LOOK = 50;

/**
 * Sends a job that no worker has started long after it was placed to the workers again: the same
 * TaskQueued, as the store holds it, on the same partition (its key is the task's stream), so it
 * waits behind the original and is passed over if the original was taken meanwhile. A Kafka
 * client that skipped a message, or a consumer that lost one in a rebalance, then leaves no task
 * queued for good. Each job is sent again after the set pause, then at doubling pauses up to ten
 * times it, with a warning: a job no live worker can take keeps waiting, and says so.
 */
@Injectable()
export class JobRedelivery implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private looking = false;
  private readonly publisher: EventPublisher;
  private readonly store: PostgresEventStore;
  /** Per task sent again: how often, and when it may be sent next. */
  private readonly sent = new Map<string, { times: number; nextAt: number }>();
  private readonly redelivered;

  constructor(
    @Inject(KAFKA) kafka: Kafka,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    metrics: Metrics,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('job-redelivery');
    const prefix = config.kafkaPrefix;
    this.publisher = new EventPublisher(
      kafka,
      (event: RecordedEvent) => eventTopic(event.streamType, prefix),
      prefix,
    );
    this.store = new PostgresEventStore(pool, { maxEventBytes: config.eventMaxBytes });
    this.redelivered = metrics.counter(
      'dolly_jobs_redelivered_total',
      'Jobs sent to the workers again because none had started them long after they were placed',
    );
  }

  onApplicationBootstrap(): void {
    const every = Math.max(1_000, Math.floor(this.config.jobRedeliverAfterMs / 4));
    this.timer = setInterval(() => void this.look(), every);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.publisher.close();
  }

  private async look(): Promise<void> {
    if (this.looking) return;
    this.looking = true;
    try {
      await this.redeliverWaiting();
    } catch (error) {
      // PostgreSQL or Kafka away: the next look tries again.
      this.logger.debug({ error: (error as Error).message }, 'could not look for waiting jobs');
    } finally {
      this.looking = false;
    }
  }

  private async redeliverWaiting(): Promise<void> {
    const after = this.config.jobRedeliverAfterMs;
    const { rows } = await this.pool.query<{ task_id: string; waited_ms: number }>(
      `SELECT task_id::text, (extract(epoch FROM now() - created_at) * 1000)::bigint AS waited_ms
         FROM read_model.tasks
        WHERE status = 'queued' AND created_at < now() - make_interval(secs => $1::float8 / 1000)
        ORDER BY created_at LIMIT ${JOBS_PER_LOOK}`,
      [after],
    );
    const waiting = new Set(rows.map((row) => row.task_id));
    for (const taskId of this.sent.keys()) if (!waiting.has(taskId)) this.sent.delete(taskId);
    const now = Date.now();
    for (const { task_id: taskId, waited_ms: waitedMs } of rows) {
      const sent = this.sent.get(taskId);
      if (sent && now < sent.nextAt) continue;
      // The read model may lag: the store says whether the job still waits.
      const history = await this.store.readStream(taskStreamId(taskId));
      if (history.length !== 1 || history[0].type !== 'TaskQueued') continue;
      await this.publisher.publish(history);
      const times = (sent?.times ?? 0) + 1;
      this.sent.set(taskId, { times, nextAt: now + doublingPause(times, after, after * 10) });
      this.redelivered.inc();
      this.logger.warn(
        { taskId, waitedSeconds: Math.round(Number(waitedMs) / 1000), times },
        'a job no worker has started was sent to the workers again',
      );
    }
  }
}
