import { type HostCommand, hostDecider, stream } from '@dolly/domain';
import { PostgresEventStore, onStream } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../../shared/command-execution';

export class RegisterHostCommand extends DollyCommand<
  Extract<HostCommand, { type: 'RegisterHost' }>['data']
> {}

@CommandHandler(RegisterHostCommand)
export class RegisterHostHandler implements ICommandHandler<RegisterHostCommand> {
  constructor(private readonly store: PostgresEventStore) {}

  execute({ execution, data }: RegisterHostCommand): Promise<CommandOutcome> {
    return decideFor(
      this.store,
      execution,
      { type: 'host', id: data.hostId },
      onStream(stream('host', data.hostId), (host) =>
        hostDecider.decide({ type: 'RegisterHost', data }, host, undefined),
      ),
    );
  }
}
