import { startScheduledPush } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { currentPool, currentVm } from '../../shared/current-state';
import { PoolDecisions } from '../pool-operations';

/** Sent by the push scheduler when a scheduled push's time has come. */
export class StartScheduledPushCommand extends DollyCommand<{ poolId: string }> {}

@CommandHandler(StartScheduledPushCommand)
export class StartScheduledPushHandler implements ICommandHandler<StartScheduledPushCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly decisions: PoolDecisions,
  ) {}

  async execute({ execution, data }: StartScheduledPushCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const { scheduledPush, image } = await currentPool(this.store, data.poolId);
    if (!scheduledPush) return this.decisions.onPool(execution, data.poolId, () => undefined);
    // A golden image gone since is a reason the push cannot start, said on the pool.
    const golden = await currentVm(this.store, scheduledPush.goldenVmId).catch(() => undefined);
    const placement = await this.decisions.imageWorkers(image, golden);
    return this.decisions.onPool(execution, data.poolId, (ws, ids) =>
      startScheduledPush(
        ws,
        { poolId: data.poolId, taskId, now: execution.context.now, placement },
        ids,
      ),
    );
  }
}
