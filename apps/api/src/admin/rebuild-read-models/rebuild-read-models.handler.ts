import { requestReadModelRebuild, stream } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../../shared/command-execution';

export class RebuildReadModelsCommand extends DollyCommand<Record<string, never>> {}

/**
 * Queues a rebuild of every read model for a projector. The task is its own target: the
 * inventory does not change, only the tables that show it are replaced by their rebuild.
 */
@CommandHandler(RebuildReadModelsCommand)
export class RebuildReadModelsHandler implements ICommandHandler<RebuildReadModelsCommand> {
  constructor(private readonly store: PostgresEventStore) {}

  execute({ execution }: RebuildReadModelsCommand): Promise<CommandOutcome> {
    const { taskId } = execution;
    return decideFor(
      this.store,
      execution,
      { type: 'task', id: taskId },
      {
        streams: [stream('task', taskId)],
        decide: (ws) => requestReadModelRebuild(ws, { taskId }),
      },
      { ifMatch: false },
    );
  }
}
