import { type EventMetadata, type RecordedEvent, type StreamType } from '@dolly/contracts';
import { type Command, ConcurrencyError, type Decider, type Event } from '@dolly/domain';
import type { PoolClient } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import type { BatchedAppends } from './batched-appends';
import type { PostgresEventStore } from './event-store';

/** Streams beyond the target whose state the decision needs (a VM's host and datastore). */
export interface DecisionContext<Context> {
  streamIds: readonly string[];
  build(streams: ReadonlyMap<string, readonly RecordedEvent[]>): Context;
}

export interface HandleCommand<State, C extends Command, E extends Event, Context> {
  decider: Decider<State, C, E, Context>;
  streamId: string;
  streamType: StreamType;
  command: C;
  metadata: EventMetadata;
  /** ISO 8601 time of the decision. */
  now: string;
  /** When the caller says which version it decided against, a conflict is its to resolve (409). */
  expectedVersion?: number;
  context?: DecisionContext<Context>;
  /** Writes that must commit with the events (an idempotency record...). */
  alsoInTransaction?: (client: PoolClient, outcome: HandledCommand<State>) => Promise<void>;
}

export interface HandledCommand<State> {
  events: RecordedEvent[];
  /** The stream's version after the command (unchanged when it decided nothing). */
  streamVersion: number;
  state: State;
}

/**
 * Recorded events as the domain's event union. Safe because the store holds only catalogued types,
 * read back upcast to their current version, which is what the domain's types describe.
 */
export function asDomainEvents<E extends Event>(
  recorded: readonly RecordedEvent[] | undefined,
): E[] {
  return (recorded ?? []) as unknown as E[];
}

/** Without an expected version, a command lost to a concurrent one is decided again on fresh state. */
const MAX_ATTEMPTS = 5;

/**
 * Load, decide, append: the one way a command changes the store. State is folded from the stream
 * on every command (streams are short; snapshots can come when they are not).
 */
export class CommandHandler {
  constructor(
    private readonly store: PostgresEventStore,
    /** Shares commits between concurrent commands; commands with extra writes append on their own. */
    private readonly batched?: BatchedAppends,
  ) {}

  async handle<State, C extends Command, E extends Event, Context>(
    request: HandleCommand<State, C, E, Context>,
  ): Promise<HandledCommand<State>> {
    for (let attempt = 1; ; attempt++) {
      const streams = await this.store.readStreams([
        request.streamId,
        ...(request.context?.streamIds ?? []),
      ]);
      const history = streams.get(request.streamId)!;
      const version = history.length;
      if (request.expectedVersion !== undefined && request.expectedVersion !== version) {
        throw new ConcurrencyError(request.streamId, request.expectedVersion, version);
      }
      const { decider } = request;
      const state = history.reduce(
        (s, e) => decider.evolve(s, e as unknown as E),
        decider.initialState(),
      );
      const context = request.context ? request.context.build(streams) : (undefined as Context);
      const decided = decider.decide(request.command, state, context);
      const nextState = decided.reduce(decider.evolve, state);
      if (decided.length === 0) return { events: [], streamVersion: version, state: nextState };

      const newEvents = decided.map((event) => ({
        eventId: uuidv7(),
        type: event.type,
        data: event.data,
        metadata: request.metadata,
        occurredAt: request.now,
      }));
      const append = async (client?: PoolClient) => {
        const result =
          !client && this.batched
            ? await this.batched.append(request.streamId, request.streamType, version, newEvents)
            : await this.store.appendToStream(
                request.streamId,
                request.streamType,
                version,
                newEvents,
                client,
              );
        if (!result.success)
          throw new ConcurrencyError(request.streamId, version, result.actualVersion);
        const outcome = {
          events: result.events,
          streamVersion: result.nextStreamVersion,
          state: nextState,
        };
        if (client && request.alsoInTransaction) await request.alsoInTransaction(client, outcome);
        return outcome;
      };
      try {
        return request.alsoInTransaction ? await this.store.transaction(append) : await append();
      } catch (error) {
        const retry =
          error instanceof ConcurrencyError &&
          request.expectedVersion === undefined &&
          attempt < MAX_ATTEMPTS;
        if (!retry) throw error;
      }
    }
  }
}
