import { taskDecider, taskStreamId } from '@dolly/domain';
import { CommandHandler as EventSourcedCommands } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../../shared/command-execution';

/** Cancel a task: a queued one ends at once; a running one is asked to stop, and its worker undoes what it began. */
export class CancelTask extends DollyCommand<{ taskId: string }> {}

@CommandHandler(CancelTask)
export class CancelTaskHandler implements ICommandHandler<CancelTask> {
  constructor(private readonly commands: EventSourcedCommands) {}

  execute({ execution, data }: CancelTask): Promise<CommandOutcome> {
    return decideFor(this.commands, execution, {
      decider: taskDecider,
      target: { type: 'task', id: data.taskId },
      streamId: taskStreamId(data.taskId),
      command: { type: 'RequestTaskCancel', data },
    });
  }
}
