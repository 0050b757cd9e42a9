import { requestDelete, stream } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { CommandBus, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { RemoveMachineCommand } from '../../pools/remove-machine/remove-machine.handler';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { currentVm } from '../../shared/current-state';
import { PlacementService } from '../../shared/placement';
import { VmDecisions } from '../vm-operations';

export class DeleteVmCommand extends DollyCommand<{
  vmId: string;
  /** An admin past a pool's protection of its desktop. */
  force: boolean;
}> {}

@CommandHandler(DeleteVmCommand)
export class DeleteVmHandler implements ICommandHandler<DeleteVmCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly decisions: VmDecisions,
    private readonly placement: PlacementService,
    private readonly bus: CommandBus,
  ) {}

  async execute({ execution, data }: DeleteVmCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const vm = await currentVm(this.store, data.vmId);
    // A desktop an admin forces out is removed by its pool all the same: the pool must know.
    if (data.force && vm.role === 'instant-clone' && vm.poolId)
      return this.bus.execute(
        new RemoveMachineCommand(execution, {
          poolId: vm.poolId,
          vmId: vm.vmId,
          forced: true,
        }),
      );
    const placement = await this.placement.forDatastores([vm.datastoreId]);
    return this.decisions.decideIn(execution, data.vmId, {
      streams: [stream('vm', data.vmId), stream('task', taskId)],
      decide: (ws) =>
        requestDelete(ws, {
          vmId: data.vmId,
          taskId,
          placement,
          requester: { by: 'person', force: data.force },
        }),
    });
  }
}
