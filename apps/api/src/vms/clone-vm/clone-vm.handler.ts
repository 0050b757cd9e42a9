import {
  type CloneRequest,
  type VmRole,
  IllegalStateError,
  guardPoolVm,
  startClone,
  stream,
} from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { currentVm } from '../../shared/current-state';
import { PlacementService } from '../../shared/placement';
import { VmDecisions } from '../vm-operations';
import { newIdentity } from './new-identity';

/** A copy of a VM or template: clone, clone to template, clone a template, deploy from one. */
export interface CloneOperation {
  operation: 'CloneVm' | 'CloneVmToTemplate' | 'CloneTemplate' | 'DeployFromTemplate';
  sourceRole: 'vm' | 'template';
  request: Omit<
    CloneRequest,
    'taskId' | 'placement' | 'operation' | 'role' | 'identity' | 'targetVmId'
  > & { role: VmRole };
}

export class CloneVmCommand extends DollyCommand<CloneOperation> {}

@CommandHandler(CloneVmCommand)
export class CloneVmHandler implements ICommandHandler<CloneVmCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly decisions: VmDecisions,
    private readonly placement: PlacementService,
  ) {}

  async execute({ execution, data }: CloneVmCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const { request } = data;
    const source = await currentVm(this.store, request.sourceVmId);
    // A pool's VM is refused as such, whatever else is wrong with the request.
    guardPoolVm(source, 'clone');
    if (source.role !== data.sourceRole) {
      throw new IllegalStateError(
        data.sourceRole === 'template' ? 'VM.NOT_A_TEMPLATE' : 'VM.IS_TEMPLATE',
        `${source.name} is a ${source.role}; ${data.operation} takes a ${data.sourceRole}`,
      );
    }
    const { targetVmId, identity } = newIdentity(source.disks.length, source.nics.length);
    const datastoreId = request.datastoreId ?? source.datastoreId;
    const live = source.powerState === 'poweredOn' && request.snapshotId === null;
    const placement =
      live && source.live
        ? await this.placement.forWorker(source.live.workerId)
        : await this.placement.forDatastores([source.datastoreId, datastoreId]);
    return this.decisions.decideIn(execution, targetVmId, {
      streams: [
        stream('vm', request.sourceVmId),
        stream('vm', targetVmId),
        stream('host', request.hostId ?? source.hostId),
        stream('datastore', datastoreId),
        stream('task', taskId),
      ],
      decide: (ws) =>
        startClone(ws, {
          ...request,
          targetVmId,
          identity,
          taskId,
          placement,
          operation: data.operation,
        }),
    });
  }
}
