import { datastoreDecider, datastoreStreamId } from '@dolly/domain';
import { CommandHandler as EventSourcedCommands } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../../shared/command-execution';

export class RenameDatastoreCommand extends DollyCommand<{ datastoreId: string; name: string }> {}

@CommandHandler(RenameDatastoreCommand)
export class RenameDatastoreHandler implements ICommandHandler<RenameDatastoreCommand> {
  constructor(private readonly commands: EventSourcedCommands) {}

  execute({ execution, data }: RenameDatastoreCommand): Promise<CommandOutcome> {
    return decideFor(this.commands, execution, {
      decider: datastoreDecider,
      target: { type: 'datastore', id: data.datastoreId },
      streamId: datastoreStreamId(data.datastoreId),
      command: { type: 'RenameDatastore', data },
    });
  }
}
