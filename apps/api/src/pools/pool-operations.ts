import {
  type ExistingVm,
  type IdSource,
  type Placement,
  type PoolImage,
  type PoolRollout,
  type PoolSettings,
  type StreamKey,
  type Workspace,
  createPool,
  deletePool,
  editPool,
  entitle,
  foldEvents,
  logOff,
  poolSites,
  pushImage,
  recoverPool,
  refreshMachine,
  removeMachine,
  rollbackImage,
  schedulePush,
  startFork,
  startScheduledPush,
  stream,
  vmDecider,
  vmStreamId,
} from '@dolly/domain';
import { PostgresEventStore, asDomainEvents } from '@dolly/event-store';
import { randomIds } from '@dolly/platform';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { v7 as uuidv7 } from 'uuid';
import {
  type CommandOutcome,
  DollyCommand,
  type Execution,
  decideFor,
} from '../shared/command-execution';
import { currentPool, currentVm } from '../shared/current-state';
import { PlacementService } from '../shared/placement';

export type PoolOperation =
  | {
      kind: 'create';
      settings: PoolSettings;
      goldenVmId: string;
      snapshotId: string;
      hostIds: string[];
      datastoreIds: string[];
    }
  | {
      kind: 'edit';
      poolId: string;
      changes: Partial<Pick<PoolSettings, 'name' | 'maxMachines' | 'spareMachines'>>;
    }
  | { kind: 'delete'; poolId: string }
  | { kind: 'entitle'; poolId: string; userId: string }
  | { kind: 'logoff'; poolId: string; vmId: string }
  | { kind: 'refresh-machine'; poolId: string; vmId: string }
  | { kind: 'remove-machine'; poolId: string; vmId: string; forced: boolean }
  | {
      kind: 'push-image';
      poolId: string;
      goldenVmId: string;
      snapshotId: string;
      rollout: PoolRollout;
    }
  | { kind: 'rollback-image'; poolId: string; rollout: PoolRollout }
  | {
      kind: 'schedule-push';
      poolId: string;
      goldenVmId: string;
      snapshotId: string;
      rollout: PoolRollout;
      startAt: string;
    }
  | { kind: 'unschedule-push'; poolId: string }
  | { kind: 'start-scheduled-push'; poolId: string }
  | { kind: 'recover'; poolId: string }
  | { kind: 'fork'; parentVmId: string; name: string; folder?: string };

/** Pool operations and instant clones: decisions across a pool's streams and those it makes. */
export class OperateOnPool extends DollyCommand<PoolOperation> {}

const pool = (id: string) => stream('pool', id);
const vm = (id: string) => stream('vm', id);

/** Stands for the workers while none can be found: the decision is refused for it in the end. */
const NO_WORKERS: Placement = { kind: 'group', group: '-' };

/**
 * Decides with the workers found; when none can do the work, decides all the same, so that what
 * is wrong with the request itself is said first, with every reason, then refuses for the workers.
 */
function withWorkers(placement: Placement | Error, decide: (workers: Placement) => void): void {
  decide(placement instanceof Error ? NO_WORKERS : placement);
  if (placement instanceof Error) throw placement;
}

@CommandHandler(OperateOnPool)
export class OperateOnPoolHandler implements ICommandHandler<OperateOnPool> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly placement: PlacementService,
  ) {}

  async execute({ execution, data }: OperateOnPool): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    switch (data.kind) {
      case 'create': {
        const poolId = uuidv7();
        const golden = await currentVm(this.store, data.goldenVmId);
        // What is wrong with the pool itself is said first, with every reason; then whether a
        // worker can build it.
        const placement = await this.workersFor([golden.datastoreId, ...data.datastoreIds]);
        return this.decide(
          execution,
          { type: 'pool', id: poolId },
          {
            streams: [
              pool(poolId),
              vm(data.goldenVmId),
              ...[...new Set([...data.hostIds, golden.hostId])].map((id): StreamKey => ({
                kind: 'host',
                id,
              })),
              ...[...new Set([...data.datastoreIds, golden.datastoreId])].map((id): StreamKey => ({
                kind: 'datastore',
                id,
              })),
            ],
            decide: (ws, ids) =>
              withWorkers(placement, (workers) =>
                createPool(ws, { ...data, poolId, taskId, placement: workers }, ids),
              ),
          },
        );
      }
      case 'edit':
        return this.onPool(execution, data.poolId, (ws, ids) =>
          editPool(ws, { poolId: data.poolId, ...data.changes }, ids),
        );
      case 'delete':
        return this.onPool(execution, data.poolId, (ws, ids) =>
          deletePool(ws, { poolId: data.poolId }, ids),
        );
      case 'entitle':
        return this.onPool(execution, data.poolId, (ws, ids) =>
          entitle(ws, { poolId: data.poolId, userId: data.userId, taskId }, ids),
        );
      case 'logoff':
        return this.onPool(
          execution,
          data.poolId,
          (ws, ids) => logOff(ws, { poolId: data.poolId, vmId: data.vmId, taskId }, ids),
          [vm(data.vmId)],
        );
      case 'refresh-machine':
        return this.onPool(
          execution,
          data.poolId,
          (ws) => refreshMachine(ws, { poolId: data.poolId, vmId: data.vmId, taskId }),
          [vm(data.vmId)],
        );
      case 'remove-machine':
        return this.onPool(
          execution,
          data.poolId,
          (ws, ids) =>
            removeMachine(
              ws,
              { poolId: data.poolId, vmId: data.vmId, taskId, forced: data.forced },
              ids,
            ),
          [vm(data.vmId)],
        );
      case 'push-image':
      case 'rollback-image': {
        const current = await currentPool(this.store, data.poolId);
        const goldenVmId =
          data.kind === 'push-image' ? data.goldenVmId : current.previousImage?.goldenVmId;
        const golden = goldenVmId ? await currentVm(this.store, goldenVmId) : undefined;
        const placement = await this.imageWorkers(current.image, golden);
        const { poolId, rollout } = data;
        return this.onPool(execution, poolId, (ws, ids) =>
          withWorkers(placement, (workers) => {
            const request = { poolId, taskId, rollout, placement: workers };
            if (data.kind === 'push-image') pushImage(ws, { ...request, ...data }, ids);
            else rollbackImage(ws, request, ids);
          }),
        );
      }
      case 'schedule-push': {
        const { kind: _kind, ...schedule } = data;
        return this.onPool(execution, data.poolId, (ws) => schedulePush(ws, schedule));
      }
      case 'unschedule-push':
        return this.onPool(execution, data.poolId, (ws) =>
          ws.decidePool({
            type: 'UnschedulePush',
            data: {
              poolId: data.poolId,
              reason: `cancelled by ${execution.context.principal.id}`,
              code: null,
            },
          }),
        );
      case 'start-scheduled-push': {
        const { scheduledPush, image } = await currentPool(this.store, data.poolId);
        if (!scheduledPush) return this.onPool(execution, data.poolId, () => undefined);
        // A golden image gone since is a reason the push cannot start, said on the pool.
        const golden = await currentVm(this.store, scheduledPush.goldenVmId).catch(() => undefined);
        const placement = await this.imageWorkers(image, golden);
        return this.onPool(execution, data.poolId, (ws, ids) =>
          startScheduledPush(
            ws,
            { poolId: data.poolId, taskId, now: execution.context.now, placement },
            ids,
          ),
        );
      }
      case 'recover': {
        const current = await currentPool(this.store, data.poolId);
        const vmIds = [
          ...current.machines.map((m) => m.vmId),
          ...current.internalVms.map((v) => v.vmId),
        ];
        const workers = new Set<string>();
        for (const history of (await this.store.readStreams(vmIds.map(vmStreamId))).values()) {
          const held = foldEvents(vmDecider, asDomainEvents(history));
          if (held.status === 'present' && held.live) workers.add(held.live.workerId);
        }
        const lostWorkers: string[] = [];
        for (const workerId of workers) {
          if (!(await this.placement.workerAnswers(workerId))) lostWorkers.push(workerId);
        }
        const placement = await this.imageWorkers(current.image);
        return this.onPool(
          execution,
          data.poolId,
          (ws, ids) =>
            withWorkers(placement, (workers) =>
              recoverPool(
                ws,
                { poolId: data.poolId, taskId, lostWorkers, placement: workers },
                ids,
              ),
            ),
          vmIds.map(vm),
        );
      }
      case 'fork': {
        const vmId = uuidv7();
        return this.decide(
          execution,
          { type: 'vm', id: vmId },
          {
            streams: [vm(data.parentVmId)],
            // Every fork writes to its parent's stream: forks of one parent queue, not collide.
            serializeOn: vm(data.parentVmId),
            decide: (ws, ids) =>
              startFork(
                ws,
                { ...data, vmId, taskId, poolId: null, operation: 'ForkInstantClone' },
                ids,
              ),
          },
        );
      }
    }
  }

  /** The workers that reach these datastores, or why none can (said after the request's own faults). */
  private workersFor(datastoreIds: string[]): Promise<Placement | Error> {
    return this.placement.forDatastores(datastoreIds).catch((error: unknown) => error as Error);
  }

  /**
   * Workers that can build an image where the pool stands: serving each of its datastores and the
   * golden image's (the internal template's), the pool's current golden image when none is given.
   */
  private async imageWorkers(image: PoolImage, golden?: ExistingVm): Promise<Placement | Error> {
    const source = golden ?? (await currentVm(this.store, image.goldenVmId).catch(() => undefined));
    const { datastoreIds } = poolSites(image);
    return this.workersFor(source ? [source.datastoreId, ...datastoreIds] : datastoreIds);
  }

  /** A decision on a pool: serialised per pool, so many users asking at once queue rather than collide. */
  private onPool<Result>(
    execution: Execution,
    poolId: string,
    decide: (ws: Workspace, ids: IdSource) => Result,
    alsoRead: StreamKey[] = [],
  ): Promise<CommandOutcome> {
    return this.decide(
      execution,
      { type: 'pool', id: poolId },
      {
        streams: [pool(poolId), ...alsoRead],
        serializeOn: pool(poolId),
        decide,
      },
    );
  }

  private decide<Result>(
    execution: Execution,
    target: CommandOutcome['target'],
    request: {
      streams: StreamKey[];
      serializeOn?: StreamKey;
      decide: (ws: Workspace, ids: IdSource) => Result;
    },
  ): Promise<CommandOutcome> {
    return decideFor(this.store, execution, target, {
      ...request,
      decide: (ws) => request.decide(ws, randomIds),
    });
  }
}
