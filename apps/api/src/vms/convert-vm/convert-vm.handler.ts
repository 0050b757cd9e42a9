import { vmDecider, stream } from '@dolly/domain';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { VmDecisions } from '../vm-operations';

/** Converting changes the role only: no format choice, no copy, the disk files stay as they are. */
export class ConvertVmCommand extends DollyCommand<{
  vmId: string;
  type: 'ConvertVmToTemplate' | 'ConvertTemplateToVm';
}> {}

@CommandHandler(ConvertVmCommand)
export class ConvertVmHandler implements ICommandHandler<ConvertVmCommand> {
  constructor(private readonly decisions: VmDecisions) {}

  execute({ execution, data: { vmId, type } }: ConvertVmCommand): Promise<CommandOutcome> {
    return this.decisions.decide(execution, vmId, {
      slots: { vm: stream('vm', vmId) },
      decide: (s) => ({ vm: vmDecider.decide({ type, data: { vmId } }, s.vm, {}) }),
    });
  }
}
