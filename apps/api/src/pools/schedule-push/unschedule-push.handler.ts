import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { PoolDecisions } from '../pool-operations';

export class UnschedulePushCommand extends DollyCommand<{ poolId: string }> {}

@CommandHandler(UnschedulePushCommand)
export class UnschedulePushHandler implements ICommandHandler<UnschedulePushCommand> {
  constructor(private readonly decisions: PoolDecisions) {}

  execute({ execution, data }: UnschedulePushCommand): Promise<CommandOutcome> {
    return this.decisions.onPool(execution, data.poolId, (ws) =>
      ws.decidePool({
        type: 'UnschedulePush',
        data: {
          poolId: data.poolId,
          reason: `cancelled by ${execution.context.principal.id}`,
          code: null,
        },
      }),
    );
  }
}
