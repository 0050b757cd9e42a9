import {
  type DatastoreCommand,
  type HostCommand,
  datastoreDecider,
  datastoreStreamId,
  hostDecider,
  hostStreamId,
} from '@dolly/domain';
import { CommandHandler as EventSourcedCommands } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../shared/command-execution';

export class DecideHostCommand extends DollyCommand<HostCommand> {}
export class DecideDatastoreCommand extends DollyCommand<DatastoreCommand> {}

@CommandHandler(DecideHostCommand)
export class DecideHostHandler implements ICommandHandler<DecideHostCommand> {
  constructor(private readonly commands: EventSourcedCommands) {}

  execute({ execution, data: command }: DecideHostCommand): Promise<CommandOutcome> {
    const { hostId } = command.data;
    return decideFor(this.commands, execution, {
      decider: hostDecider,
      target: { type: 'host', id: hostId },
      streamId: hostStreamId(hostId),
      command,
    });
  }
}

@CommandHandler(DecideDatastoreCommand)
export class DecideDatastoreHandler implements ICommandHandler<DecideDatastoreCommand> {
  constructor(private readonly commands: EventSourcedCommands) {}

  execute({ execution, data: command }: DecideDatastoreCommand): Promise<CommandOutcome> {
    const { datastoreId } = command.data;
    return decideFor(this.commands, execution, {
      decider: datastoreDecider,
      target: { type: 'datastore', id: datastoreId },
      streamId: datastoreStreamId(datastoreId),
      command,
    });
  }
}
