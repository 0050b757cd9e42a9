import {
  type ExistingVm,
  type IdSource,
  type Placement,
  type PoolImage,
  type StreamKey,
  type Workspace,
  poolSites,
  stream,
} from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { randomIds } from '@dolly/platform';
import { Injectable } from '@nestjs/common';
import { type CommandOutcome, type Execution, decideFor } from '../shared/command-execution';
import { currentVm } from '../shared/current-state';
import { PlacementService } from '../shared/placement';

const pool = (id: string) => stream('pool', id);

/** Stands for the workers while none can be found: the decision is refused for it in the end. */
const NO_WORKERS: Placement = { kind: 'group', group: '-' };

/**
 * Decides with the workers found; when none can do the work, decides all the same, so that what
 * is wrong with the request itself is said first, with every reason, then refuses for the workers.
 */
export function withWorkers(
  placement: Placement | Error,
  decide: (workers: Placement) => void,
): void {
  decide(placement instanceof Error ? NO_WORKERS : placement);
  if (placement instanceof Error) throw placement;
}

/**
 * The decisions pool use cases (and instant clones) make: across a pool's streams and those it
 * makes, with the workers that can do the work.
 */
@Injectable()
export class PoolDecisions {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly placement: PlacementService,
  ) {}

  /** The workers that reach these datastores, or why none can (said after the request's own faults). */
  workersFor(datastoreIds: string[]): Promise<Placement | Error> {
    return this.placement.forDatastores(datastoreIds).catch((error: unknown) => error as Error);
  }

  /**
   * Workers that can build an image where the pool stands: serving each of its datastores and the
   * golden image's (the internal template's), the pool's current golden image when none is given.
   */
  async imageWorkers(image: PoolImage, golden?: ExistingVm): Promise<Placement | Error> {
    const source = golden ?? (await currentVm(this.store, image.goldenVmId).catch(() => undefined));
    const { datastoreIds } = poolSites(image);
    return this.workersFor(source ? [source.datastoreId, ...datastoreIds] : datastoreIds);
  }

  /** A decision on a pool: serialised per pool, so many users asking at once queue rather than collide. */
  onPool<Result>(
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

  decide<Result>(
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
