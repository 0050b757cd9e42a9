import { streamIdOf } from '../shared/streams';
import { type Static, Type } from '@sinclair/typebox';
import { type Command, type Decider, assertNever } from '../shared/decider';
import { Uuid } from '../shared/schema';

/**
 * A clone worker: the datastores it reaches decide the jobs it may take. Workers that reach the
 * same datastores form a group (a Kafka consumer group): more of them, more throughput.
 */
export const WorkerAnnouncedData = Type.Object(
  {
    workerId: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._-]+$' }),
    group: Type.String({
      minLength: 1,
      description: 'Its group: every worker reaching the same datastores shares it.',
    }),
    datastoreIds: Type.Array(Uuid('A datastore it reaches.'), { maxItems: 256 }),
  },
  {
    additionalProperties: false,
    description: 'A worker started and said which datastores it serves.',
  },
);
export type WorkerAnnounced = { type: 'WorkerAnnounced'; data: Static<typeof WorkerAnnouncedData> };
export type WorkerEvent = WorkerAnnounced;

export type WorkerState =
  | { status: 'unknown' }
  | ({
      status: 'announced';
      /**
       * The groups it served before, each with the datastores it then reached. Until the API sees
       * a worker's new announcement it may still place jobs on the group the worker just left.
       */
      earlierGroups?: Record<string, string[]>;
    } & WorkerAnnounced['data']);

export type AnnounceWorker = Command<'AnnounceWorker', WorkerAnnounced['data']>;

export const workerStreamId = (workerId: string) => streamIdOf({ kind: 'worker', id: workerId });

/** The group of the workers that reach exactly these datastores (a stable name for a set). */
export function workerGroup(
  datastoreIds: readonly string[],
  digest: (text: string) => string,
): string {
  return `workers-${digest([...new Set(datastoreIds)].sort().join(',')).slice(0, 16)}`;
}

/**
 * The groups a worker left whose datastores it still reaches: a job placed on one of them (the
 * API had not yet seen the worker move on, and nobody else serves that group) is still its to do.
 */
export function groupsStillServed(state: WorkerState): string[] {
  if (state.status !== 'announced') return [];
  const reached = new Set(state.datastoreIds);
  return Object.entries(state.earlierGroups ?? {})
    .filter(([, datastoreIds]) => datastoreIds.every((id) => reached.has(id)))
    .map(([group]) => group);
}

export const workerDecider: Decider<WorkerState, AnnounceWorker, WorkerEvent> = {
  initialState: () => ({ status: 'unknown' }),
  decide(command, state) {
    switch (command.type) {
      case 'AnnounceWorker': {
        // Restarting with the same datastores says nothing new.
        const same =
          state.status === 'announced' &&
          state.group === command.data.group &&
          state.datastoreIds.join() === command.data.datastoreIds.join();
        return same ? [] : [{ type: 'WorkerAnnounced', data: command.data }];
      }
      default:
        return assertNever(command.type);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'WorkerAnnounced': {
        const earlierGroups = { ...(state.status === 'announced' ? state.earlierGroups : {}) };
        if (state.status === 'announced') earlierGroups[state.group] = state.datastoreIds;
        delete earlierGroups[event.data.group];
        return { status: 'announced', ...event.data, earlierGroups };
      }
      default:
        return assertNever(event.type);
    }
  },
};
