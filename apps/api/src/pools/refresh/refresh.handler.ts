import { refreshMachine } from '@dolly/domain';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { PoolDecisions } from '../pool-operations';

export class RefreshMachineCommand extends DollyCommand<{ poolId: string; vmId: string }> {}

@CommandHandler(RefreshMachineCommand)
export class RefreshMachineHandler implements ICommandHandler<RefreshMachineCommand> {
  constructor(private readonly decisions: PoolDecisions) {}

  execute({ execution, data }: RefreshMachineCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    return this.decisions.onPool(
      execution,
      data.poolId,
      (ws) => refreshMachine(ws, { poolId: data.poolId, vmId: data.vmId, taskId }),
      [{ kind: 'vm', id: data.vmId }],
    );
  }
}
