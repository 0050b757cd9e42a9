import { type PoolSettings, editPool } from '@dolly/domain';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { PoolDecisions } from '../pool-operations';

export class EditPoolCommand extends DollyCommand<{
  poolId: string;
  changes: Partial<Pick<PoolSettings, 'name' | 'maxMachines' | 'spareMachines'>>;
}> {}

@CommandHandler(EditPoolCommand)
export class EditPoolHandler implements ICommandHandler<EditPoolCommand> {
  constructor(private readonly decisions: PoolDecisions) {}

  execute({ execution, data }: EditPoolCommand): Promise<CommandOutcome> {
    return this.decisions.onPool(execution, data.poolId, (ws, ids) =>
      editPool(ws, { poolId: data.poolId, ...data.changes }, ids),
    );
  }
}
