import type { EventMetadata, RecordedEvent } from '@dolly/contracts';
import {
  ConcurrencyError,
  type Decider,
  type Event,
  type EventOf,
  type StateOf,
  type StreamKey,
  type StreamKind,
  StreamNotLoadedError,
  Workspace,
  foldEvents,
  foldStream,
  streamIdOf,
} from '@dolly/domain';
import type { PoolClient } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { CONFLICT_RETRY_ATTEMPTS, backOffAfterConflict } from './conflict-retry';
import type { NewEvent, PostgresEventStore, Queryable } from './event-store';

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

/** The streams a decision reads and how it decides: all a decision is, before who asks and when. */
export interface Decision<Result> {
  /** The streams to read before deciding; any other the decision turns out to need is read too. */
  streams: readonly StreamKey[];
  /**
   * Pure: decides in a Workspace holding the streams read (new ones start empty). What it records
   * there is appended; what it returns comes back as the outcome's result.
   */
  decide(ws: Workspace): Result;
  /**
   * Decisions on one hot stream (a pool many users ask at once) wait for each other on a lock
   * held until commit, instead of all deciding on the same version and all but one starting over.
   */
  serializeOn?: StreamKey;
  /**
   * Streams to read besides `streams` that only the store can name (every datastore, say), listed
   * once the serializing lock is held, so none that a concurrent decision adds is missed.
   */
  discover?: (client: PoolClient) => Promise<StreamKey[]>;
}

export interface DecisionAcross<Result> extends Decision<Result> {
  metadata: EventMetadata;
  /** ISO 8601 time of the decision. */
  now: string;
  /** The version the client decided against, on the stream it named (409 when it moved on). */
  expected?: { stream: StreamKey; version: number };
  /** Writes that must commit with the events (an idempotency record); not made when nothing changed. */
  alsoInTransaction?: (client: PoolClient, outcome: DecidedAcross<Result>) => Promise<void>;
}

export interface DecidedAcross<Result> {
  result: Result;
  /** Each written stream's events, by stream id. */
  events: Map<string, RecordedEvent[]>;
  /** Every read or written stream's version after the decision, by stream id. */
  versions: Map<string, number>;
  changed: boolean;
}

const MAX_STREAMS = 20_000;

/**
 * The one way a decision changes the store. Every stream it needs is read (a stream it turns out
 * to need and was not read is read too, and the decision made again), the pure decision made once
 * in a Workspace, and every changed stream appended at the version it was read (a new one at 0),
 * all in one transaction. A concurrent change to any of them makes the whole decision start again
 * on fresh state, unless it is on the stream whose version the client named (that is the
 * client's to resolve). A decision that changes one stream alone, with nothing else to write,
 * shares its commit with concurrent ones when the store groups commits.
 */
export async function decideAcross<Result>(
  store: PostgresEventStore,
  request: DecisionAcross<Result>,
): Promise<DecidedAcross<Result>> {
  const wanted = new Map(request.streams.map((key) => [streamIdOf(key), key]));
  const clientsStream = request.expected && streamIdOf(request.expected.stream);
  for (let attempt = 1; ; attempt++) {
    try {
      if (request.serializeOn || request.discover) {
        // The lock and the listing only hold inside the transaction that appends.
        return await store.transaction(async (client) =>
          append(store, request, await readAndDecide(store, client, request, wanted), client),
        );
      }
      return await append(store, request, await readAndDecide(store, undefined, request, wanted));
    } catch (error) {
      const retry =
        error instanceof ConcurrencyError &&
        error.streamId !== clientsStream &&
        attempt < CONFLICT_RETRY_ATTEMPTS;
      if (!retry) throw error;
      await backOffAfterConflict(attempt);
    }
  }
}

interface Decided<Result> {
  result: Result;
  versions: Map<string, number>;
  changes: { key: StreamKey; events: Event[] }[];
}

async function readAndDecide<Result>(
  store: PostgresEventStore,
  client: PoolClient | undefined,
  request: DecisionAcross<Result>,
  wanted: Map<string, StreamKey>,
): Promise<Decided<Result>> {
  if (client && request.serializeOn) {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      streamIdOf(request.serializeOn),
    ]);
  }
  if (client && request.discover)
    for (const key of await request.discover(client)) wanted.set(streamIdOf(key), key);
  for (;;) {
    const { versions, loaded } = await readFolded(store, [...wanted.values()], client);
    if (request.expected) {
      const { stream, version } = request.expected;
      const actual = versions.get(streamIdOf(stream)) ?? 0;
      if (actual !== version) throw new ConcurrencyError(streamIdOf(stream), version, actual);
    }
    const ws = new Workspace(loaded);
    try {
      return { result: request.decide(ws), versions, changes: ws.changes() };
    } catch (error) {
      if (!(error instanceof StreamNotLoadedError)) throw error;
      if (wanted.size >= MAX_STREAMS)
        throw new Error(`A decision may read at most ${MAX_STREAMS} streams`);
      wanted.set(streamIdOf(error.key), error.key);
    }
  }
}

async function append<Result>(
  store: PostgresEventStore,
  request: DecisionAcross<Result>,
  decided: Decided<Result>,
  client?: PoolClient,
): Promise<DecidedAcross<Result>> {
  const outcome: DecidedAcross<Result> = {
    result: decided.result,
    events: new Map(),
    versions: new Map(decided.versions),
    changed: decided.changes.length > 0,
  };
  if (!outcome.changed) return outcome;
  const newEvents = (events: readonly Event[]): NewEvent[] =>
    events.map((event) => ({
      eventId: uuidv7(),
      type: event.type,
      data: event.data,
      metadata: request.metadata,
      occurredAt: request.now,
    }));
  const grouped = store.groupedCommits;
  if (!client && grouped && decided.changes.length === 1 && !request.alsoInTransaction) {
    const [{ key, events }] = decided.changes;
    const streamId = streamIdOf(key);
    const from = decided.versions.get(streamId) ?? 0;
    const appended = await grouped.append(streamId, key.kind, from, newEvents(events));
    if (!appended.success) throw new ConcurrencyError(streamId, from, appended.actualVersion);
    outcome.events.set(streamId, appended.events);
    outcome.versions.set(streamId, appended.nextStreamVersion);
    return outcome;
  }
  const write = async (db: PoolClient) => {
    for (const { key, events } of decided.changes) {
      const streamId = streamIdOf(key);
      const from = decided.versions.get(streamId) ?? 0;
      const appended = await store.appendToStream(streamId, key.kind, from, newEvents(events), db);
      if (!appended.success) throw new ConcurrencyError(streamId, from, appended.actualVersion);
      outcome.events.set(streamId, appended.events);
      outcome.versions.set(streamId, appended.nextStreamVersion);
    }
    if (request.alsoInTransaction) await request.alsoInTransaction(db, outcome);
    return outcome;
  };
  return client ? write(client) : store.transaction(write);
}

/**
 * Streams this process decided on lately, folded, by store: a decision reads only the events
 * after the version it holds. Long streams (a pool of hundreds of machines, a parent forked
 * hundreds of times) are then not replayed whole at every decision. Only states read from
 * committed events are kept (evolve returns new objects: a state is never changed in place).
 */
const foldedStreams = new WeakMap<
  PostgresEventStore,
  Map<string, { version: number; state: unknown }>
>();
const MAX_FOLDED_STREAMS = 20_000;

function foldedOf(store: PostgresEventStore) {
  let folded = foldedStreams.get(store);
  if (!folded) foldedStreams.set(store, (folded = new Map()));
  return folded;
}

function remember(
  folded: Map<string, { version: number; state: unknown }>,
  streamId: string,
  entry: { version: number; state: unknown },
) {
  // Concurrent reads end in any order: a state older than the one kept is not kept.
  if ((folded.get(streamId)?.version ?? -1) > entry.version) return;
  // A Map keeps insertion order: re-inserting marks it used, the first key is the least recent.
  folded.delete(streamId);
  folded.set(streamId, entry);
  if (folded.size > MAX_FOLDED_STREAMS) folded.delete(folded.keys().next().value!);
}

/** Each stream's state and version now, reading only what this process has not folded yet. */
async function readFolded(
  store: PostgresEventStore,
  keys: readonly StreamKey[],
  db?: Queryable,
): Promise<{ versions: Map<string, number>; loaded: { key: StreamKey; state: unknown }[] }> {
  const folded = foldedOf(store);
  // What is known is taken before reading: concurrent decisions change the cache meanwhile, and
  // the events read continue this state, not whichever is kept when the read ends.
  const known = new Map(keys.map((key) => [streamIdOf(key), folded.get(streamIdOf(key))]));
  const newer = await store.readStreamsAfter(
    new Map([...known].map(([streamId, entry]) => [streamId, entry?.version ?? 0])),
    db,
  );
  const versions = new Map<string, number>();
  const loaded = keys.map((key) => {
    const streamId = streamIdOf(key);
    const from = known.get(streamId);
    const events = newer.get(streamId)!;
    const state = foldFrom(key.kind, events, from?.state);
    const version = (from?.version ?? 0) + events.length;
    versions.set(streamId, version);
    remember(folded, streamId, { version, state });
    return { key, state };
  });
  return { versions, loaded };
}

/** A state a stream of this kind held (folded by this module, so of its kind), with more events. */
function foldFrom<K extends StreamKind>(
  kind: K,
  events: readonly RecordedEvent[],
  known: unknown,
): StateOf<K> {
  const from = known === undefined ? undefined : (known as StateOf<K>);
  return foldStream(kind, asDomainEvents<EventOf<K>>(events), from);
}
