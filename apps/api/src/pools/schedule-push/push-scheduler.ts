import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { InjectRepository } from '@nestjs/typeorm';
import { PoolRow } from '@dolly/read-models';
import { Repository } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { Execution } from '../../shared/command-execution';
import { StartScheduledPushCommand } from './start-scheduled-push.handler';

/** How often the API looks for scheduled pushes whose time has come. */
const SCHEDULER_TICK_MS = 1000;

/**
 * Starts scheduled push images at their time. Every API instance looks; the decision on the pool
 * (serialised per pool) starts a push once, and drops a schedule that cannot start with its
 * reason, so a broken one is not retried at every tick.
 */
@Injectable()
export class PushScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(PushScheduler.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    @InjectRepository(PoolRow) private readonly pools: Repository<PoolRow>,
    private readonly commands: CommandBus,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.running ??= this.startDuePushes().finally(() => (this.running = undefined));
    }, SCHEDULER_TICK_MS);
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  private async startDuePushes(): Promise<void> {
    const due = await this.pools
      .createQueryBuilder('pool')
      .select('pool.poolId', 'poolId')
      .where(`(pool.state->'scheduledPush'->>'startAt')::timestamptz <= now()`)
      .getRawMany<{ poolId: string }>()
      .catch((error: unknown) => {
        this.logger.warn(`Looking for scheduled pushes failed: ${String(error)}`);
        return [];
      });
    for (const { poolId } of due) {
      const execution = new Execution(
        {
          principal: { id: 'dolly-scheduler', role: 'admin' },
          correlationId: uuidv7(),
          now: new Date().toISOString(),
          method: 'SCHEDULE',
          path: `/pools/${poolId}/image`,
          body: null,
        },
        'StartScheduledPush',
      );
      await this.commands
        .execute(new StartScheduledPushCommand(execution, { poolId }))
        .catch((error: unknown) =>
          this.logger.warn(
            `Starting the scheduled push of pool ${poolId} failed: ${String(error)}`,
          ),
        );
    }
  }
}
