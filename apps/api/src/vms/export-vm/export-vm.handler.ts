import { startExport, stream } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { currentVm } from '../../shared/current-state';
import { PlacementService } from '../../shared/placement';
import { VmDecisions } from '../vm-operations';

export class ExportVmCommand extends DollyCommand<{
  vmId: string;
  snapshotId: string | null;
  /** SHA-256 of the one-time token the API presents to the worker; the token stays with the request. */
  tokenSha256: string;
}> {}

/** The VM's name, for the file the caller saves. */
export interface ExportDecided extends CommandOutcome {
  result: { name: string };
}

/**
 * vSphere's Export OVF Template: the VM (powered off, or a snapshot of a running one) is held as
 * it is while a worker of its datastore writes the OVA, which the API streams to the caller.
 */
@CommandHandler(ExportVmCommand)
export class ExportVmHandler implements ICommandHandler<ExportVmCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly decisions: VmDecisions,
    private readonly placement: PlacementService,
  ) {}

  async execute({ execution, data }: ExportVmCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const vm = await currentVm(this.store, data.vmId);
    // A snapshot's layers are frozen files any worker of the datastore reads, running VM or not.
    const placement = await this.placement.forDatastores([vm.datastoreId]);
    const outcome = await this.decisions.decideIn(execution, data.vmId, {
      streams: [stream('vm', data.vmId), stream('task', taskId)],
      decide: (ws) =>
        startExport(ws, {
          vmId: data.vmId,
          taskId,
          snapshotId: data.snapshotId,
          transfer: { tokenSha256: data.tokenSha256 },
          placement,
        }),
    });
    return { ...outcome, result: { name: vm.name } } satisfies ExportDecided;
  }
}
