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
import { type CommandOutcome, DollyCommand } from '../shared/command-execution';

export class DecideHostCommand extends DollyCommand<HostCommand> {}
export class DecideDatastoreCommand extends DollyCommand<DatastoreCommand> {}

@CommandHandler(DecideHostCommand)
export class DecideHostHandler implements ICommandHandler<DecideHostCommand> {
  constructor(private readonly commands: EventSourcedCommands) {}

  async execute({ execution, data: command }: DecideHostCommand): Promise<CommandOutcome> {
    const target = { type: 'host' as const, id: command.data.hostId };
    const handled = await this.commands.handle({
      decider: hostDecider,
      streamId: hostStreamId(command.data.hostId),
      streamType: 'host',
      command,
      ...execution.decision(target),
    });
    return execution.outcome(target, handled);
  }
}

@CommandHandler(DecideDatastoreCommand)
export class DecideDatastoreHandler implements ICommandHandler<DecideDatastoreCommand> {
  constructor(private readonly commands: EventSourcedCommands) {}

  async execute({ execution, data: command }: DecideDatastoreCommand): Promise<CommandOutcome> {
    const target = { type: 'datastore' as const, id: command.data.datastoreId };
    const handled = await this.commands.handle({
      decider: datastoreDecider,
      streamId: datastoreStreamId(command.data.datastoreId),
      streamType: 'datastore',
      command,
      ...execution.decision(target),
    });
    return execution.outcome(target, handled);
  }
}
