import {
  type DatastoreCommand,
  type HostCommand,
  datastoreDecider,
  hostDecider,
  stream,
} from '@dolly/domain';
import { PostgresEventStore, onStream } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../shared/command-execution';

export class DecideHostCommand extends DollyCommand<HostCommand> {}
export class DecideDatastoreCommand extends DollyCommand<DatastoreCommand> {}

@CommandHandler(DecideHostCommand)
export class DecideHostHandler implements ICommandHandler<DecideHostCommand> {
  constructor(private readonly store: PostgresEventStore) {}

  execute({ execution, data: command }: DecideHostCommand): Promise<CommandOutcome> {
    const { hostId } = command.data;
    return decideFor(
      this.store,
      execution,
      { type: 'host', id: hostId },
      onStream(stream('host', hostId), (host) => hostDecider.decide(command, host, undefined)),
    );
  }
}

@CommandHandler(DecideDatastoreCommand)
export class DecideDatastoreHandler implements ICommandHandler<DecideDatastoreCommand> {
  constructor(private readonly store: PostgresEventStore) {}

  execute({ execution, data: command }: DecideDatastoreCommand): Promise<CommandOutcome> {
    const { datastoreId } = command.data;
    return decideFor(
      this.store,
      execution,
      { type: 'datastore', id: datastoreId },
      onStream(stream('datastore', datastoreId), (datastore) =>
        datastoreDecider.decide(command, datastore, undefined),
      ),
    );
  }
}
