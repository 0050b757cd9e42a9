import { type VmDefinition, provisionNewVm } from '@dolly/domain';
import { datastoreSlot, hostSlot, taskSlot, vmSlot } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { PlacementService } from '../../shared/placement';
import { VmDecisions } from '../vm-operations';

export class CreateVmCommand extends DollyCommand<{ definition: VmDefinition }> {}

@CommandHandler(CreateVmCommand)
export class CreateVmHandler implements ICommandHandler<CreateVmCommand> {
  constructor(
    private readonly decisions: VmDecisions,
    private readonly placement: PlacementService,
  ) {}

  async execute({ execution, data }: CreateVmCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const { definition } = data;
    const placement =
      definition.disks.length > 0
        ? await this.placement.forDatastores([definition.datastoreId])
        : undefined;
    return this.decisions.decide(execution, definition.vmId, {
      slots: {
        vm: vmSlot(definition.vmId),
        host: hostSlot(definition.hostId),
        datastore: datastoreSlot(definition.datastoreId),
        task: taskSlot(taskId),
      },
      decide: (s) =>
        provisionNewVm(
          { definition, taskId, placement: placement ?? { kind: 'group', group: 'none' } },
          s,
        ),
    });
  }
}
