import { vmDecider, stream } from '@dolly/domain';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { VmDecisions } from '../vm-operations';

export class RenameVmCommand extends DollyCommand<{ vmId: string; name: string }> {}

@CommandHandler(RenameVmCommand)
export class RenameVmHandler implements ICommandHandler<RenameVmCommand> {
  constructor(private readonly decisions: VmDecisions) {}

  execute({ execution, data }: RenameVmCommand): Promise<CommandOutcome> {
    return this.decisions.decide(execution, data.vmId, {
      slots: { vm: stream('vm', data.vmId) },
      decide: (s) => ({ vm: vmDecider.decide({ type: 'RenameVm', data }, s.vm, {}) }),
    });
  }
}
