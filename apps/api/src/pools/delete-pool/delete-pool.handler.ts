import { deletePool } from '@dolly/domain';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { PoolDecisions } from '../pool-operations';

export class DeletePoolCommand extends DollyCommand<{ poolId: string }> {}

@CommandHandler(DeletePoolCommand)
export class DeletePoolHandler implements ICommandHandler<DeletePoolCommand> {
  constructor(private readonly decisions: PoolDecisions) {}

  execute({ execution, data }: DeletePoolCommand): Promise<CommandOutcome> {
    return this.decisions.onPool(execution, data.poolId, (ws, ids) =>
      deletePool(ws, { poolId: data.poolId }, ids),
    );
  }
}
