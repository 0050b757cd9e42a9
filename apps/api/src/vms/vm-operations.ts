import { randomUUID } from 'node:crypto';
import {
  type CloneRequest,
  type PowerState,
  type StreamKey,
  type VmCommand,
  type VmDefinition,
  type VmRole,
  type Workspace,
  IllegalStateError,
  guardPoolVm,
  provisionNewVm,
  requestDelete,
  requestPower,
  requestSnapshotAction,
  startClone,
} from '@dolly/domain';
import { PostgresEventStore, type WorkspaceOutcome, decideInWorkspace } from '@dolly/event-store';
import { randomIds } from '@dolly/platform';
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
          streams: [
            { kind: 'vm', id: definition.vmId },
            { kind: 'host', id: definition.hostId },
            { kind: 'datastore', id: definition.datastoreId },
            { kind: 'task', id: taskId },
          ],
          decide: (ws) =>
            provisionNewVm(ws, {
              definition,
              taskId,
              placement: placement ?? { kind: 'group', group: 'none' },
            }),
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
          streams: [
            { kind: 'vm', id: request.sourceVmId },
            { kind: 'vm', id: targetVmId },
            { kind: 'host', id: request.hostId ?? source.hostId },
            { kind: 'datastore', id: datastoreId },
            { kind: 'task', id: taskId },
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
      case 'power': {
        const vm = await currentVm(this.store, data.vmId);
        const placement = await this.placement.forVm(vm);
        return this.decide(execution, data.vmId, {
          streams: [
            { kind: 'vm', id: data.vmId },
            { kind: 'task', id: taskId },
          ],
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
      case 'snapshot': {
        const vm = await currentVm(this.store, data.vmId);
        const placement = await this.placement.forVm(vm);
        return this.decide(execution, data.vmId, {
          streams: [
            { kind: 'vm', id: data.vmId },
            { kind: 'task', id: taskId },
          ],
          decide: (ws) => requestSnapshotAction(ws, { ...data, taskId, placement }),
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
          streams: [
            { kind: 'vm', id: data.vmId },
            { kind: 'task', id: taskId },
          ],
          decide: (ws) =>
            requestDelete(ws, {
              vmId: data.vmId,
              taskId,
              placement,
              requester: { by: 'person', force: data.force },
            }),
        });
      }
      case 'decide':
        return this.decide(execution, data.command.data.vmId, {
          streams: [{ kind: 'vm', id: data.command.data.vmId }],
          decide: (ws) => ws.decideVm(data.command),
        });
    }
  }

  /** One decision across the streams the operation names, If-Match on the VM it is about. */
  private async decide(
    execution: Execution,
    vmId: string,
    request: { streams: StreamKey[]; decide: (ws: Workspace) => void },
  ): Promise<CommandOutcome> {
    const target = { type: 'vm' as const, id: vmId };
    const targetKey: StreamKey = { kind: 'vm', id: vmId };
    const decision = execution.decision(target);
    const outcomeOf = (handled: WorkspaceOutcome<void>): CommandOutcome => ({
      target,
      streamVersion: handled.versions.get(`vm:${vmId}`) ?? 0,
      changed: handled.changed,
      async: handled.events.has(`task:${execution.taskId}`),
    });
    const handled = await decideInWorkspace(this.store, {
      ...request,
      ids: randomIds,
      metadata: decision.metadata,
      now: decision.now,
      expected:
        decision.expectedVersion === undefined
          ? undefined
          : { stream: targetKey, version: decision.expectedVersion },
      alsoInTransaction: execution.alsoInTransaction
        ? (client, handled) => execution.alsoInTransaction!(client, outcomeOf(handled))
        : undefined,
    });
    return outcomeOf(handled);
  }
}
