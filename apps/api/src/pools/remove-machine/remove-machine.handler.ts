import { removeMachine } from '@dolly/domain';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { PoolDecisions } from '../pool-operations';

export class RemoveMachineCommand extends DollyCommand<{
  poolId: string;
  vmId: string;
  /** An admin forced the desktop out through DELETE /vms/{vmId}?force=true. */
  forced: boolean;
}> {}

@CommandHandler(RemoveMachineCommand)
export class RemoveMachineHandler implements ICommandHandler<RemoveMachineCommand> {
  constructor(private readonly decisions: PoolDecisions) {}

  execute({ execution, data }: RemoveMachineCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    return this.decisions.onPool(
      execution,
      data.poolId,
      (ws, ids) =>
        removeMachine(
          ws,
          { poolId: data.poolId, vmId: data.vmId, taskId, forced: data.forced },
          ids,
        ),
      [{ kind: 'vm', id: data.vmId }],
    );
  }
}
