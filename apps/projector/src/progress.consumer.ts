import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import { progressTopic, readProgressMessage, type TaskProgressMessage } from '@dolly/contracts';
import { type TaskEvent, foldEvents, taskDecider, taskStreamId } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { type DeadLetter, ensureTopics, progressTopicSpec } from '@dolly/messaging';
import { DOLLY_CONFIG, DeadLetters, KAFKA, Metrics, PG_POOL } from '@dolly/platform';
import type { Consumer, Kafka } from 'kafkajs';
import { PinoLogger } from 'nestjs-pino';
import type { Pool } from 'pg';
import { PROJECTED_CHANNEL, keepTaskProgress } from '@dolly/read-models';

/**
 * Keeps the latest progress of running tasks, from the progress topic (not events: they would
 * flood the store). A batch keeps only the newest report of each task, and an older report never
 * overwrites a newer one.
 *
 * Progress cannot be checked against the store as events are (it is not stored), so a report is
 * kept only when it is a valid progress message, not dated in the future, and names the attempt
 * that the store says runs now (one read of the batch's tasks). What is not a progress message is
 * dead-lettered; a report of an attempt that does not run is dropped and counted but not
 * dead-lettered: a worker's last report may well come after its task ended or was taken over.
 */
@Injectable()
export class ProgressConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private consumer: Consumer | undefined;
  private readonly store: PostgresEventStore;
  private readonly dropped;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    private readonly deadLetters: DeadLetters,
    metrics: Metrics,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('progress');
    this.store = new PostgresEventStore(pool, { maxEventBytes: config.eventMaxBytes });
    this.dropped = metrics.counter(
      'dolly_projector_progress_dropped_total',
      'Progress messages not kept: not a progress report (also dead-lettered), or of no running attempt',
      ['reason'],
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    const topic = progressTopic(this.config.kafkaPrefix);
    await ensureTopics(this.kafka, [
      progressTopicSpec(this.config.kafkaPrefix),
      this.deadLetters.topic,
    ]);
    const groupId = `${this.config.kafkaPrefix}dolly-progress`;
    const consumer = this.kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: false });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const now = new Date();
        const reports: TaskProgressMessage[] = [];
        const refused: DeadLetter[] = [];
        for (const message of batch.messages) {
          const check = readProgressMessage(message, now);
          if (check.ok) reports.push(check.value);
          else
            refused.push({
              topic,
              partition: batch.partition,
              offset: message.offset,
              message,
              reason: check.reason,
              detail: check.detail,
            });
        }
        await this.deadLetters.send(groupId, refused);
        for (const { reason } of refused) this.dropped.inc({ reason });
        await this.keep(await this.ofRunningAttempts(reports));
      },
    });
    this.consumer = consumer;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer?.disconnect();
  }

  /** The reports that name the attempt running now, by the store (the tasks read in one query). */
  private async ofRunningAttempts(
    reports: readonly TaskProgressMessage[],
  ): Promise<TaskProgressMessage[]> {
    const tasks = await this.store.readStreams([
      ...new Set(reports.map((report) => taskStreamId(report.taskId))),
    ]);
    return reports.filter((report) => {
      const events = tasks.get(taskStreamId(report.taskId)) ?? [];
      const task = foldEvents(taskDecider, events as unknown as TaskEvent[]);
      const running = task.status === 'running' && task.attempt === report.attempt;
      if (!running) this.dropped.inc({ reason: 'PROGRESS.NOT_CURRENT' });
      return running;
    });
  }

  /** The newest report of each task; an older one never overwrites a newer one. */
  private async keep(reports: readonly TaskProgressMessage[]): Promise<void> {
    const latest = new Map<string, TaskProgressMessage>();
    for (const progress of reports) {
      const seen = latest.get(progress.taskId);
      if (!seen || seen.reportedAt <= progress.reportedAt) latest.set(progress.taskId, progress);
    }
    for (const { doneBytes, totalBytes, ...report } of latest.values())
      await keepTaskProgress(this.pool, {
        ...report,
        done: doneBytes,
        total: totalBytes,
        unit: 'bytes',
        perSecond: null,
      });
    // Progress streams are woken by this, as by a projected batch: they never poll.
    if (latest.size > 0) await this.pool.query('SELECT pg_notify($1, $2)', [PROJECTED_CHANNEL, '']);
  }
}
