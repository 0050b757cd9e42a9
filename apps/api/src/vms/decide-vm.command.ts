import { type RecordedEvent } from '@dolly/contracts';
import {
  type DatastoreEvent,
  type DatastoreState,
  type HostEvent,
  type HostState,
  type VmCommand,
  type VmContext,
  datastoreDecider,
  datastoreStreamId,
  foldEvents,
  hostDecider,
  hostStreamId,
  vmDecider,
  vmStreamId,
} from '@dolly/domain';
import {
  CommandHandler as EventSourcedCommands,
  type DecisionContext,
  asDomainEvents,
} from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../shared/command-execution';

/** Any VM command, decided against the VM's stream (and, to create one, its host and datastore). */
export class DecideVmCommand extends DollyCommand<VmCommand> {}

function placementContext(hostId: string, datastoreId: string): DecisionContext<VmContext> {
  return {
    streamIds: [hostStreamId(hostId), datastoreStreamId(datastoreId)],
    build: (streams: ReadonlyMap<string, readonly RecordedEvent[]>) => ({
      host: foldEvents<HostState, HostEvent>(
        hostDecider,
        asDomainEvents(streams.get(hostStreamId(hostId))),
      ),
      datastore: foldEvents<DatastoreState, DatastoreEvent>(
        datastoreDecider,
        asDomainEvents(streams.get(datastoreStreamId(datastoreId))),
      ),
    }),
  };
}

@CommandHandler(DecideVmCommand)
export class DecideVmHandler implements ICommandHandler<DecideVmCommand> {
  constructor(private readonly commands: EventSourcedCommands) {}

  execute({ execution, data: command }: DecideVmCommand): Promise<CommandOutcome> {
    const { vmId } = command.data;
    return decideFor(this.commands, execution, {
      decider: vmDecider,
      target: { type: 'vm', id: vmId },
      streamId: vmStreamId(vmId),
      command,
      context:
        command.type === 'CreateVm'
          ? placementContext(command.data.hostId, command.data.datastoreId)
          : undefined,
    });
  }
}
