import { randomUUID } from 'node:crypto';
import {
  type Changes,
  type CloneRequest,
  type PowerState,
  type VmCommand,
  type VmDefinition,
  type VmRole,
  type VmState,
  IllegalStateError,
  guardPoolVm,
  provisionNewVm,
  requestDelete,
  requestPower,
  requestSnapshotAction,
  startClone,
  vmDecider,
} from '@dolly/domain';
import {
  PostgresEventStore,
  type HandledAcross,
  type StreamSlot,
  handleAcross,
  vmSlot,
  hostSlot,
  datastoreSlot,
  taskSlot,
} from '@dolly/event-store';
import { CommandBus, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { OperateOnPool } from '../pools/pool-operations';
import { type CommandOutcome, DollyCommand, type Execution } from '../shared/command-execution';
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
            source: vmSlot(request.sourceVmId),
            vm: vmSlot(targetVmId),
            host: hostSlot(request.hostId ?? source.hostId),
            datastore: datastoreSlot(datastoreId),
            task: taskSlot(taskId),
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
          slots: { vm: vmSlot(data.vmId), task: taskSlot(taskId) },
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
          slots: { vm: vmSlot(data.vmId), task: taskSlot(taskId) },
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
          slots: { vm: vmSlot(data.vmId), task: taskSlot(taskId) },
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
          slots: { vm: vmSlot(data.command.data.vmId) },
          decide: (s) => ({ vm: vmDecider.decide(data.command, s.vm, {}) }),
        });
    }
  }

  private async decide<
    Slots extends Record<string, StreamSlot<unknown>> & { vm: StreamSlot<VmState> },
  >(
    execution: Execution,
    vmId: string,
    request: {
      slots: Slots;
      decide: (states: {
        [K in keyof Slots]: Slots[K] extends StreamSlot<infer S> ? S : never;
      }) => Changes;
    },
  ): Promise<CommandOutcome> {
    const target = { type: 'vm' as const, id: vmId };
    const decision = execution.decision(target);
    const outcomeOf = (handled: HandledAcross<Slots>): CommandOutcome => ({
      target,
      streamVersion: handled.versions.vm,
      changed: Object.values(handled.events).some((events) => (events?.length ?? 0) > 0),
      async: (handled.events.task?.length ?? 0) > 0,
    });
    const handled = await handleAcross(this.store, {
      slots: request.slots,
      decide: (states) => request.decide(states) as Partial<Record<keyof Slots, never[]>>,
      metadata: decision.metadata,
      now: decision.now,
      expected:
        decision.expectedVersion === undefined
          ? undefined
          : { slot: 'vm', version: decision.expectedVersion },
      alsoInTransaction: execution.alsoInTransaction
        ? (client, outcome) => execution.alsoInTransaction!(client, outcomeOf(outcome))
        : undefined,
    });
    return outcomeOf(handled);
  }
}
