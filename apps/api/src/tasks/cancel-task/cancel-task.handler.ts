import { stream, taskDecider } from '@dolly/domain';
import { PostgresEventStore, onStream } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../../shared/command-execution';

/** Cancel a task: a queued one ends at once; a running one is asked to stop, and its worker undoes what it began. */
export class CancelTask extends DollyCommand<{ taskId: string }> {}

@CommandHandler(CancelTask)
export class CancelTaskHandler implements ICommandHandler<CancelTask> {
  constructor(private readonly store: PostgresEventStore) {}

  execute({ execution, data }: CancelTask): Promise<CommandOutcome> {
    return decideFor(
      this.store,
      execution,
      { type: 'task', id: data.taskId },
      onStream(stream('task', data.taskId), (task) =>
        taskDecider.decide({ type: 'RequestTaskCancel', data }, task, undefined),
      ),
    );
  }
}
