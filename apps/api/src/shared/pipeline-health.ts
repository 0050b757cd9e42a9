import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import { PROJECTOR_GROUP, allEventTopics } from '@dolly/contracts';
import { outboxBacklog } from '@dolly/event-store';
import { consumerGroupLag } from '@dolly/messaging';
import { DOLLY_CONFIG, HealthRegistry, KAFKA, PG_POOL } from '@dolly/platform';
import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';

/** Events waiting longer than this in the outbox mean the relay is not keeping up (or Kafka is down). */
const OUTBOX_STALE_SECONDS = 30;

/**
 * The API's view of the pipeline behind it: Kafka reachable, the relay's lag (events waiting in
 * the outbox, and for how long) and the projector's lag (messages its group has not committed).
 */
@Injectable()
export class PipelineHealth implements OnModuleInit {
  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    private readonly health: HealthRegistry,
  ) {}

  onModuleInit(): void {
    const prefix = this.config.kafkaPrefix;
    this.health.register('kafka', async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      try {
        return {
          status: 'up',
          details: { brokers: (await admin.describeCluster()).brokers.length },
        };
      } finally {
        await admin.disconnect();
      }
    });
    this.health.register('relay-lag', async () => {
      const { waiting, oldestWaitingSeconds } = await outboxBacklog(this.pool);
      return {
        status: oldestWaitingSeconds > OUTBOX_STALE_SECONDS ? 'down' : 'up',
        details: { outboxEvents: waiting, oldestWaitingSeconds },
      };
    });
    this.health.register('projector-lag', async () => ({
      status: 'up',
      details: {
        messagesBehind: await consumerGroupLag(
          this.kafka,
          `${prefix}${PROJECTOR_GROUP}`,
          allEventTopics(prefix),
        ),
      },
    }));
  }
}
