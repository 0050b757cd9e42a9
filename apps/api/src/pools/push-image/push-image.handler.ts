import { type PoolRollout, pushImage } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { currentPool, currentVm } from '../../shared/current-state';
import { PoolDecisions, withWorkers } from '../pool-operations';

export class PushImageCommand extends DollyCommand<{
  poolId: string;
  goldenVmId: string;
  snapshotId: string;
  rollout: PoolRollout;
}> {}

@CommandHandler(PushImageCommand)
export class PushImageHandler implements ICommandHandler<PushImageCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly decisions: PoolDecisions,
  ) {}

  async execute({ execution, data }: PushImageCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const current = await currentPool(this.store, data.poolId);
    const golden = await currentVm(this.store, data.goldenVmId);
    const placement = await this.decisions.imageWorkers(current.image, golden);
    const { poolId, rollout } = data;
    return this.decisions.onPool(execution, poolId, (ws, ids) =>
      withWorkers(placement, (workers) =>
        pushImage(ws, { ...data, poolId, taskId, rollout, placement: workers }, ids),
      ),
    );
  }
}
