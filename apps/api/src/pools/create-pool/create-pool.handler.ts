import { type PoolSettings, type StreamKey, createPool } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { v7 as uuidv7 } from 'uuid';
import { type CommandOutcome, DollyCommand } from '../../shared/command-execution';
import { currentVm } from '../../shared/current-state';
import { PoolDecisions, withWorkers } from '../pool-operations';

export class CreatePoolCommand extends DollyCommand<{
  settings: PoolSettings;
  goldenVmId: string;
  snapshotId: string;
  hostIds: string[];
  datastoreIds: string[];
}> {}

@CommandHandler(CreatePoolCommand)
export class CreatePoolHandler implements ICommandHandler<CreatePoolCommand> {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly decisions: PoolDecisions,
  ) {}

  async execute({ execution, data }: CreatePoolCommand): Promise<CommandOutcome> {
    const taskId = execution.taskId;
    const poolId = uuidv7();
    const golden = await currentVm(this.store, data.goldenVmId);
    // What is wrong with the pool itself is said first, with every reason; then whether a
    // worker can build it.
    const placement = await this.decisions.workersFor([golden.datastoreId, ...data.datastoreIds]);
    return this.decisions.decide(
      execution,
      { type: 'pool', id: poolId },
      {
        streams: [
          { kind: 'pool', id: poolId },
          { kind: 'vm', id: data.goldenVmId },
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
}
