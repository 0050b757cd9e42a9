import { datastoreDecider, stream } from '@dolly/domain';
import { PostgresEventStore, onStream } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../../shared/command-execution';

export class RenameDatastoreCommand extends DollyCommand<{ datastoreId: string; name: string }> {}

@CommandHandler(RenameDatastoreCommand)
export class RenameDatastoreHandler implements ICommandHandler<RenameDatastoreCommand> {
  constructor(private readonly store: PostgresEventStore) {}

  execute({ execution, data }: RenameDatastoreCommand): Promise<CommandOutcome> {
    return decideFor(
      this.store,
      execution,
      { type: 'datastore', id: data.datastoreId },
      onStream(stream('datastore', data.datastoreId), (datastore) =>
        datastoreDecider.decide({ type: 'RenameDatastore', data }, datastore, undefined),
      ),
    );
  }
}
