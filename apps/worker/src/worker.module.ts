import { Inject, Module, type OnModuleInit } from '@nestjs/common';
import { HealthRegistry, KAFKA, PlatformModule } from '@dolly/platform';
import type { Kafka } from 'kafkajs';

/** Reports whether the broker the worker takes jobs from answers. */
class WorkerHealth implements OnModuleInit {
  constructor(
    @Inject(HealthRegistry) private readonly health: HealthRegistry,
    @Inject(KAFKA) private readonly kafka: Kafka,
  ) {}

  onModuleInit(): void {
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
  }
}

/**
 * The clone worker: the data plane that does the disk work of clone jobs with the disk engine.
 * It joins the workers' consumer group on the jobs topic once clone jobs exist (the cloning issue).
 */
@Module({
  imports: [PlatformModule.forRoot({ service: 'worker', poolSize: 5 })],
  providers: [WorkerHealth],
})
export class WorkerModule {}
