import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import { EVENT_TOPIC_PARTITIONS, progressTopic, type TaskProgressMessage } from '@dolly/contracts';
import { ensureTopics } from '@dolly/messaging';
import { DOLLY_CONFIG, KAFKA, PG_POOL } from '@dolly/platform';
import type { Consumer, Kafka } from 'kafkajs';
import { PinoLogger } from 'nestjs-pino';
import type { Pool } from 'pg';

/**
 * Keeps the latest progress of running tasks, from the progress topic (not events: they would
 * flood the store). A batch keeps only the newest report of each task, and an older report never
 * overwrites a newer one.
 */
@Injectable()
export class ProgressConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private consumer: Consumer | undefined;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('progress');
  }

  async onApplicationBootstrap(): Promise<void> {
    const topic = progressTopic(this.config.kafkaPrefix);
    await ensureTopics(this.kafka, [
      {
        topic,
        numPartitions: EVENT_TOPIC_PARTITIONS,
        configEntries: [{ name: 'retention.ms', value: '3600000' }],
      },
    ]);
    const consumer = this.kafka.consumer({
      groupId: `${this.config.kafkaPrefix}dolly-progress`,
      maxWaitTimeInMs: 100,
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: false });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const latest = new Map<string, TaskProgressMessage>();
        for (const message of batch.messages) {
          if (!message.value) continue;
          const progress = JSON.parse(message.value.toString('utf8')) as TaskProgressMessage;
          const seen = latest.get(progress.taskId);
          if (!seen || seen.reportedAt <= progress.reportedAt)
            latest.set(progress.taskId, progress);
        }
        for (const p of latest.values()) {
          await this.pool.query(
            `INSERT INTO read_model.task_progress AS t (task_id, attempt, phase, done_bytes, total_bytes, reported_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (task_id) DO UPDATE SET attempt = excluded.attempt, phase = excluded.phase,
               done_bytes = excluded.done_bytes, total_bytes = excluded.total_bytes, reported_at = excluded.reported_at
             WHERE t.reported_at <= excluded.reported_at`,
            [p.taskId, p.attempt, p.phase, p.doneBytes, p.totalBytes, p.reportedAt],
          );
        }
      },
    });
    this.consumer = consumer;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
