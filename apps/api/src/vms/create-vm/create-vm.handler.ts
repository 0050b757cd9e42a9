import { type VmDefinition, provisionNewVm, stream } from '@dolly/domain';
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
    return this.decisions.decideIn(execution, definition.vmId, {
      streams: [
        stream('vm', definition.vmId),
        stream('host', definition.hostId),
        stream('datastore', definition.datastoreId),
        stream('task', taskId),
      ],
      decide: (ws) =>
        provisionNewVm(ws, {
          definition,
          taskId,
          placement: placement ?? { kind: 'group', group: 'none' },
        }),
    });
  }
}
