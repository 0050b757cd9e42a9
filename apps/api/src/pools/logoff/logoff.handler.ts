import { logOff } from '@dolly/domain';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { PoolDecisions } from '../pool-operations';

export class LogOffCommand extends DollyCommand<{ poolId: string; vmId: string }> {}

@CommandHandler(LogOffCommand)
export class LogOffHandler implements ICommandHandler<LogOffCommand> {
  constructor(private readonly decisions: PoolDecisions) {}

  execute({ execution, data }: LogOffCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    return this.decisions.onPool(
      execution,
      data.poolId,
      (ws, ids) => logOff(ws, { poolId: data.poolId, vmId: data.vmId, taskId }, ids),
      [{ kind: 'vm', id: data.vmId }],
    );
  }
}
