import {
  datastoreDecider,
  datastoreStreamId,
  guardQuarantineRestore,
  requestQuarantineRestore,
  stream,
} from '@dolly/domain';
import { PostgresEventStore, streamState } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../../shared/command-execution';
import { PlacementService } from '../../shared/placement';

export class RestoreQuarantinedCommand extends DollyCommand<{
  datastoreId: string;
  entry: string;
}> {}

/**
 * Queues the restore of a quarantined layer for a worker serving its datastore: refused at once
 * when the datastore is unknown or inaccessible, or the entry is not a quarantined layer its
 * workers reported; the worker checks the layer again before taking it back.
 */
@CommandHandler(RestoreQuarantinedCommand)
export class RestoreQuarantinedHandler implements ICommandHandler<RestoreQuarantinedCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly placement: PlacementService,
  ) {}

  async execute({ execution, data }: RestoreQuarantinedCommand): Promise<CommandOutcome> {
    const { datastoreId, entry } = data;
    const taskId = execution.taskId;
    // Refused as such before asking who could do it (a wrong entry is a 404, not "no worker").
    guardQuarantineRestore(
      await streamState(this.store, datastoreDecider, datastoreStreamId(datastoreId)),
      datastoreId,
      entry,
    );
    const placement = await this.placement.forDatastores([datastoreId]);
    return decideFor(
      this.store,
      execution,
      { type: 'datastore', id: datastoreId },
      {
        streams: [stream('datastore', datastoreId), stream('task', taskId)],
        decide: (ws) => requestQuarantineRestore(ws, { datastoreId, entry, taskId, placement }),
      },
    );
  }
}
