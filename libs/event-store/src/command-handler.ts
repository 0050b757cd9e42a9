import { type EventMetadata, type RecordedEvent, type StreamType } from '@dolly/contracts';
import {
  type Command,
  ConcurrencyError,
  type Decider,
  type Event,
  foldEvents,
} from '@dolly/domain';
import type { PoolClient } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { CONFLICT_RETRY_ATTEMPTS, backOffAfterConflict } from './conflict-retry';
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

/** A stream's state now, folded from every event it holds. */
export async function streamState<State, E extends Event>(
  store: PostgresEventStore,
  fold: Pick<Decider<State, never, E, unknown>, 'evolve' | 'initialState'>,
  streamId: string,
): Promise<State> {
  return foldEvents(fold, asDomainEvents<E>(await store.readStream(streamId)));
}

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
          attempt < CONFLICT_RETRY_ATTEMPTS;
        if (!retry) throw error;
        await backOffAfterConflict(attempt);
      }
    }
  }
}

/** One stream a decision across streams reads and may append to. */
export interface StreamSlot<State> {
  streamId: string;
  streamType: StreamType;
  fold: { evolve(state: State, event: never): State; initialState(): State };
}

type StatesOf<Slots extends Record<string, StreamSlot<unknown>>> = {
  [K in keyof Slots]: Slots[K] extends StreamSlot<infer State> ? State : never;
};

export interface HandleAcross<Slots extends Record<string, StreamSlot<unknown>>> {
  slots: Slots;
  /** Pure: the events each stream gets (omitted or empty: none). */
  decide(states: StatesOf<Slots>): Partial<Record<keyof Slots, readonly Event[] | undefined>>;
  metadata: EventMetadata;
  now: string;
  /** The version the client decided against, for the slot it names (If-Match). */
  expected?: { slot: keyof Slots; version: number };
  alsoInTransaction?: (client: PoolClient, outcome: HandledAcross<Slots>) => Promise<void>;
}

export interface HandledAcross<Slots> {
  events: Partial<Record<keyof Slots, RecordedEvent[]>>;
  /** Each stream's version after the decision. */
  versions: Record<keyof Slots, number>;
}

/**
 * A decision that spans streams (a clone: its source, the new VM, the datastore's space, the
 * task): every stream is read, the pure decision made once, and all of it appended in one
 * transaction, each stream at the version it was read. Any concurrent change to any of them makes
 * the whole decision start again on fresh state.
 */
export async function handleAcross<Slots extends Record<string, StreamSlot<unknown>>>(
  store: PostgresEventStore,
  request: HandleAcross<Slots>,
): Promise<HandledAcross<Slots>> {
  const keys = Object.keys(request.slots) as (keyof Slots & string)[];
  for (let attempt = 1; ; attempt++) {
    const streams = await store.readStreams(keys.map((key) => request.slots[key].streamId));
    const versions = {} as Record<keyof Slots, number>;
    const states = {} as Record<string, unknown>;
    for (const key of keys) {
      const slot = request.slots[key];
      const history = streams.get(slot.streamId)!;
      versions[key] = history.length;
      states[key] = asDomainEvents<never>(history).reduce(
        slot.fold.evolve,
        slot.fold.initialState(),
      );
    }
    if (request.expected && request.expected.version !== versions[request.expected.slot]) {
      const slot = request.slots[request.expected.slot];
      throw new ConcurrencyError(
        slot.streamId,
        request.expected.version,
        versions[request.expected.slot],
      );
    }
    const decided = request.decide(states as StatesOf<Slots>);
    try {
      return await store.transaction(async (client) => {
        const outcome: HandledAcross<Slots> = { events: {}, versions: { ...versions } };
        for (const key of keys) {
          const events = decided[key];
          if (!events || events.length === 0) continue;
          const slot = request.slots[key];
          const result = await store.appendToStream(
            slot.streamId,
            slot.streamType,
            versions[key],
            events.map((event) => ({
              eventId: uuidv7(),
              type: event.type,
              data: event.data,
              metadata: request.metadata,
              occurredAt: request.now,
            })),
            client,
          );
          if (!result.success)
            throw new ConcurrencyError(slot.streamId, versions[key], result.actualVersion);
          outcome.events[key] = result.events;
          outcome.versions[key] = result.nextStreamVersion;
        }
        if (request.alsoInTransaction) await request.alsoInTransaction(client, outcome);
        return outcome;
      });
    } catch (error) {
      // A conflict on the stream the client named is theirs to resolve; on any other, decide again.
      const clientsStream = request.expected && request.slots[request.expected.slot].streamId;
      const retry =
        error instanceof ConcurrencyError &&
        error.streamId !== clientsStream &&
        attempt < CONFLICT_RETRY_ATTEMPTS;
      if (!retry) throw error;
      await backOffAfterConflict(attempt);
    }
  }
}
