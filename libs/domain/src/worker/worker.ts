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
  { status: 'unknown' } | ({ status: 'announced' } & WorkerAnnounced['data']);

export type AnnounceWorker = Command<'AnnounceWorker', WorkerAnnounced['data']>;

export const workerStreamId = (workerId: string) => `worker-${workerId}`;

/** The group of the workers that reach exactly these datastores (a stable name for a set). */
export function workerGroup(
  datastoreIds: readonly string[],
  digest: (text: string) => string,
): string {
  return `workers-${digest([...new Set(datastoreIds)].sort().join(',')).slice(0, 16)}`;
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
  evolve(_state, event) {
    switch (event.type) {
      case 'WorkerAnnounced':
        return { status: 'announced', ...event.data };
      default:
        return assertNever(event.type);
    }
  },
};
