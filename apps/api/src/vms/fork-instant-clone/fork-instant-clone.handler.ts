import { startFork } from '@dolly/domain';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { v7 as uuidv7 } from 'uuid';
import { PoolDecisions } from '../../pools/pool-operations';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';

/** An instant clone of a running VM, outside any pool: the pools' fork, decided the same way. */
export class ForkInstantCloneCommand extends DollyCommand<{
  parentVmId: string;
  name: string;
  folder?: string;
}> {}

@CommandHandler(ForkInstantCloneCommand)
export class ForkInstantCloneHandler implements ICommandHandler<ForkInstantCloneCommand> {
  constructor(private readonly decisions: PoolDecisions) {}

  execute({ execution, data }: ForkInstantCloneCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const vmId = uuidv7();
    return this.decisions.decide(
      execution,
      { type: 'vm', id: vmId },
      {
        streams: [{ kind: 'vm', id: data.parentVmId }],
        // Every fork writes to its parent's stream: forks of one parent queue, not collide.
        serializeOn: { kind: 'vm', id: data.parentVmId },
        decide: (ws, ids) =>
          startFork(
            ws,
            { ...data, vmId, taskId, poolId: null, operation: 'ForkInstantClone' },
            ids,
          ),
      },
    );
  }
}
