import { type HostCommand, hostDecider, hostStreamId } from '@dolly/domain';
import { CommandHandler as EventSourcedCommands } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand, decideFor } from '../../shared/command-execution';

export class RegisterHostCommand extends DollyCommand<
  Extract<HostCommand, { type: 'RegisterHost' }>['data']
> {}

@CommandHandler(RegisterHostCommand)
export class RegisterHostHandler implements ICommandHandler<RegisterHostCommand> {
  constructor(private readonly commands: EventSourcedCommands) {}

  execute({ execution, data }: RegisterHostCommand): Promise<CommandOutcome> {
    return decideFor(this.commands, execution, {
      decider: hostDecider,
      target: { type: 'host', id: data.hostId },
      streamId: hostStreamId(data.hostId),
      command: { type: 'RegisterHost', data },
    });
  }
}
