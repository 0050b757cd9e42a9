import { type PoolRollout, rollbackImage } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { currentPool, currentVm } from '../../shared/current-state';
import { PoolDecisions, withWorkers } from '../pool-operations';

/** A push image of the pool's previous golden snapshot. */
export class RollbackImageCommand extends DollyCommand<{ poolId: string; rollout: PoolRollout }> {}

@CommandHandler(RollbackImageCommand)
export class RollbackImageHandler implements ICommandHandler<RollbackImageCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly decisions: PoolDecisions,
  ) {}

  async execute({ execution, data }: RollbackImageCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const current = await currentPool(this.store, data.poolId);
    const goldenVmId = current.previousImage?.goldenVmId;
    const golden = goldenVmId ? await currentVm(this.store, goldenVmId) : undefined;
    const placement = await this.decisions.imageWorkers(current.image, golden);
    const { poolId, rollout } = data;
    return this.decisions.onPool(execution, poolId, (ws, ids) =>
      withWorkers(placement, (workers) =>
        rollbackImage(ws, { poolId, taskId, rollout, placement: workers }, ids),
      ),
    );
  }
}
