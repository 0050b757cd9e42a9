import { type StreamKey, foldEvents, recoverPool, vmDecider, vmStreamId } from '@dolly/domain';
import { PostgresEventStore, asDomainEvents } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { currentPool } from '../../shared/current-state';
import { PlacementService } from '../../shared/placement';
import { PoolDecisions, withWorkers } from '../pool-operations';

/** Recreate the machines whose host (worker) no longer answers. */
export class RecoverPoolCommand extends DollyCommand<{ poolId: string }> {}

@CommandHandler(RecoverPoolCommand)
export class RecoverPoolHandler implements ICommandHandler<RecoverPoolCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly decisions: PoolDecisions,
    private readonly placement: PlacementService,
  ) {}

  async execute({ execution, data }: RecoverPoolCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
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
    const placement = await this.decisions.imageWorkers(current.image);
    return this.decisions.onPool(
      execution,
      data.poolId,
      (ws, ids) =>
        withWorkers(placement, (workers) =>
          recoverPool(ws, { poolId: data.poolId, taskId, lostWorkers, placement: workers }, ids),
        ),
      vmIds.map((id): StreamKey => ({ kind: 'vm', id })),
    );
  }
}
