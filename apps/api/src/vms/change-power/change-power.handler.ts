import { randomUUID } from 'node:crypto';
import { type PowerState, requestPower, stream } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { currentVm } from '../../shared/current-state';
import { PlacementService } from '../../shared/placement';
import { VmDecisions } from '../vm-operations';

export class ChangePowerCommand extends DollyCommand<{
  vmId: string;
  to: PowerState;
  operation: 'PowerOnVm' | 'PowerOffVm' | 'SuspendVm';
  /** An admin past a pool's protection of its desktop. */
  force: boolean;
}> {}

@CommandHandler(ChangePowerCommand)
export class ChangePowerHandler implements ICommandHandler<ChangePowerCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly decisions: VmDecisions,
    private readonly placement: PlacementService,
  ) {}

  async execute({ execution, data }: ChangePowerCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const vm = await currentVm(this.store, data.vmId);
    const placement = await this.placement.forVm(vm);
    return this.decisions.decideIn(execution, data.vmId, {
      streams: [stream('vm', data.vmId), stream('task', taskId)],
      decide: (ws) =>
        requestPower(ws, {
          vmId: data.vmId,
          to: data.to,
          taskId,
          memoryImageId: randomUUID(),
          placement,
          operation: data.operation,
          requester: { by: 'person', force: data.force },
        }),
    });
  }
}
