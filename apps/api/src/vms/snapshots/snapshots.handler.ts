import { requestSnapshotAction, stream } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { currentVm } from '../../shared/current-state';
import { PlacementService } from '../../shared/placement';
import { VmDecisions } from '../vm-operations';

/** Take, revert to or delete a snapshot: a task for a worker on the VM's chain. */
export class SnapshotCommand extends DollyCommand<
  | { action: 'take'; vmId: string; snapshotId: string; name: string; description: string }
  | { action: 'revert' | 'delete'; vmId: string; snapshotId: string }
> {}

@CommandHandler(SnapshotCommand)
export class SnapshotHandler implements ICommandHandler<SnapshotCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly decisions: VmDecisions,
    private readonly placement: PlacementService,
  ) {}

  async execute({ execution, data }: SnapshotCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const vm = await currentVm(this.store, data.vmId);
    const placement = await this.placement.forVm(vm);
    return this.decisions.decideIn(execution, data.vmId, {
      streams: [stream('vm', data.vmId), stream('task', taskId)],
      decide: (ws) => requestSnapshotAction(ws, { ...data, taskId, placement }),
    });
  }
}
