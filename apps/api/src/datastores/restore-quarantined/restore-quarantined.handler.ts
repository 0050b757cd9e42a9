import {
  datastoreDecider,
  datastoreStreamId,
  guardQuarantineRestore,
  requestQuarantineRestore,
} from '@dolly/domain';
import {
  PostgresEventStore,
  type WorkspaceOutcome,
  decideInWorkspace,
  streamState,
} from '@dolly/event-store';
import { randomIds } from '@dolly/platform';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
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
    const target = { type: 'datastore' as const, id: datastoreId };
    const decision = execution.decision(target);
    const datastore = { kind: 'datastore' as const, id: datastoreId };
    const outcomeOf = (handled: WorkspaceOutcome<void>): CommandOutcome => ({
      target,
      streamVersion: handled.versions.get(`datastore:${datastoreId}`) ?? 0,
      changed: handled.events.has(`task:${taskId}`),
      async: true,
    });
    const handled = await decideInWorkspace(this.store, {
      streams: [datastore, { kind: 'task', id: taskId }],
      decide: (ws) => requestQuarantineRestore(ws, { datastoreId, entry, taskId, placement }),
      ids: randomIds,
      metadata: decision.metadata,
      now: decision.now,
      expected:
        decision.expectedVersion === undefined
          ? undefined
          : { stream: datastore, version: decision.expectedVersion },
      alsoInTransaction: execution.alsoInTransaction
        ? (client, outcome) => execution.alsoInTransaction!(client, outcomeOf(outcome))
        : undefined,
    });
    return outcomeOf(handled);
  }
}
