import { entitle } from '@dolly/domain';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { PoolDecisions } from '../pool-operations';

export class EntitleUserCommand extends DollyCommand<{ poolId: string; userId: string }> {}

@CommandHandler(EntitleUserCommand)
export class EntitleUserHandler implements ICommandHandler<EntitleUserCommand> {
  constructor(private readonly decisions: PoolDecisions) {}

  execute({ execution, data }: EntitleUserCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    return this.decisions.onPool(execution, data.poolId, (ws, ids) =>
      entitle(ws, { poolId: data.poolId, userId: data.userId, taskId }, ids),
    );
  }
}
