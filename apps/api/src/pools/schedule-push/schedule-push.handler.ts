import { type PoolRollout, schedulePush } from '@dolly/domain';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { PoolDecisions } from '../pool-operations';

/** A push image to start later (the push scheduler starts it at its time). */
export class SchedulePushCommand extends DollyCommand<{
  poolId: string;
  goldenVmId: string;
  snapshotId: string;
  rollout: PoolRollout;
  startAt: string;
}> {}

@CommandHandler(SchedulePushCommand)
export class SchedulePushHandler implements ICommandHandler<SchedulePushCommand> {
  constructor(private readonly decisions: PoolDecisions) {}

  execute({ execution, data }: SchedulePushCommand): Promise<CommandOutcome> {
    return this.decisions.onPool(execution, data.poolId, (ws) => schedulePush(ws, data));
  }
}
