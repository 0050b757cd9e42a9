import { randomUUID } from 'node:crypto';
import {
  type CloneRequest,
  type PowerState,
  type VmCommand,
  type VmDefinition,
  type VmRole,
  IllegalStateError,
  guardPoolVm,
  provisionNewVm,
  requestDelete,
  requestPower,
  requestSnapshotAction,
  startClone,
  stream,
  vmDecider,
} from '@dolly/domain';
import {
  PostgresEventStore,
  type SlotEvents,
  type SlotStates,
  type Slots,
  inSlots,
} from '@dolly/event-store';
import { CommandBus, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { OperateOnPool } from '../pools/pool-operations';
import {
  type CommandOutcome,
  DollyCommand,
  type Execution,
  decideFor,
} from '../shared/command-execution';
import { currentVm } from '../shared/current-state';
import { PlacementService } from '../shared/placement';
import { newIdentity } from './clone-vm/new-identity';

export type VmOperation =
  | { kind: 'create'; definition: VmDefinition }
  | {
      kind: 'clone';
      operation: 'CloneVm' | 'CloneVmToTemplate' | 'CloneTemplate' | 'DeployFromTemplate';
      sourceRole: 'vm' | 'template';
      request: Omit<
        CloneRequest,
        'taskId' | 'placement' | 'operation' | 'role' | 'identity' | 'targetVmId'
      > & { role: VmRole };
    }
  | {
      kind: 'power';
      vmId: string;
      to: PowerState;
      operation: 'PowerOnVm' | 'PowerOffVm' | 'SuspendVm';
      /** An admin past a pool's protection of its desktop. */
      force: boolean;
    }
  | {
      kind: 'snapshot';
      action: 'take';
      vmId: string;
      snapshotId: string;
      name: string;
      description: string;
    }
  | { kind: 'snapshot'; action: 'revert' | 'delete'; vmId: string; snapshotId: string }
  | { kind: 'delete'; vmId: string; force: boolean }
  | {
      kind: 'decide';
      command: Extract<
        VmCommand,
        { type: 'RenameVm' | 'ConvertVmToTemplate' | 'ConvertTemplateToVm' }
      >;
    };

/** Any operation on VMs and templates: one decision across the streams it touches. */
export class OperateOnVm extends DollyCommand<VmOperation> {}

@CommandHandler(OperateOnVm)
export class OperateOnVmHandler implements ICommandHandler<OperateOnVm> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly placement: PlacementService,
    private readonly bus: CommandBus,
  ) {}

  async execute({ execution, data }: OperateOnVm): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    switch (data.kind) {
      case 'create': {
        const { definition } = data;
        const placement =
          definition.disks.length > 0
            ? await this.placement.forDatastores([definition.datastoreId])
            : undefined;
        return this.decide(execution, definition.vmId, {
          slots: {
            vm: stream('vm', definition.vmId),
            host: stream('host', definition.hostId),
            datastore: stream('datastore', definition.datastoreId),
            task: stream('task', taskId),
          },
          decide: (s) =>
            provisionNewVm(
              { definition, taskId, placement: placement ?? { kind: 'group', group: 'none' } },
              s,
            ),
        });
      }
      case 'clone': {
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
        return this.decide(execution, targetVmId, {
          slots: {
            source: stream('vm', request.sourceVmId),
            vm: stream('vm', targetVmId),
            host: stream('host', request.hostId ?? source.hostId),
            datastore: stream('datastore', datastoreId),
            task: stream('task', taskId),
          },
          decide: (s) =>
            startClone(
              { ...request, targetVmId, identity, taskId, placement, operation: data.operation },
              { ...s, target: s.vm },
            ),
        });
      }
      case 'power': {
        const vm = await currentVm(this.store, data.vmId);
        const placement = await this.placement.forVm(vm);
        return this.decide(execution, data.vmId, {
          slots: { vm: stream('vm', data.vmId), task: stream('task', taskId) },
          decide: (s) =>
            requestPower(
              {
                vmId: data.vmId,
                to: data.to,
                taskId,
                memoryImageId: randomUUID(),
                placement,
                operation: data.operation,
                requester: { by: 'person', force: data.force },
              },
              s.vm,
            ),
        });
      }
      case 'snapshot': {
        const vm = await currentVm(this.store, data.vmId);
        const placement = await this.placement.forVm(vm);
        return this.decide(execution, data.vmId, {
          slots: { vm: stream('vm', data.vmId), task: stream('task', taskId) },
          decide: (s) => requestSnapshotAction({ ...data, taskId, placement }, s.vm),
        });
      }
      case 'delete': {
        const vm = await currentVm(this.store, data.vmId);
        // A desktop an admin forces out is removed by its pool all the same: the pool must know.
        if (data.force && vm.role === 'instant-clone' && vm.poolId)
          return this.bus.execute(
            new OperateOnPool(execution, {
              kind: 'remove-machine',
              poolId: vm.poolId,
              vmId: vm.vmId,
              forced: true,
            }),
          );
        const placement = await this.placement.forDatastores([vm.datastoreId]);
        return this.decide(execution, data.vmId, {
          slots: { vm: stream('vm', data.vmId), task: stream('task', taskId) },
          decide: (s) =>
            requestDelete(
              {
                vmId: data.vmId,
                taskId,
                placement,
                requester: { by: 'person', force: data.force },
              },
              s.vm,
            ),
        });
      }
      case 'decide':
        return this.decide(execution, data.command.data.vmId, {
          slots: { vm: stream('vm', data.command.data.vmId) },
          decide: (s) => ({ vm: vmDecider.decide(data.command, s.vm, {}) }),
        });
    }
  }

  /** A decision on the streams a VM operation touches, the VM its target. */
  private decide<S extends Slots>(
    execution: Execution,
    vmId: string,
    request: { slots: S; decide: (states: SlotStates<S>) => SlotEvents<S> },
  ): Promise<CommandOutcome> {
    const target = { type: 'vm' as const, id: vmId };
    return decideFor(this.store, execution, target, inSlots(request.slots, request.decide));
  }
}
