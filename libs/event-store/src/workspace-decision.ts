import type { EventMetadata, RecordedEvent, StreamType } from '@dolly/contracts';
import {
  ConcurrencyError,
  type IdSource,
  type StreamKey,
  StreamNotLoadedError,
  STREAM_FOLDS,
  Workspace,
  datastoreStreamId,
  hostStreamId,
  poolStreamId,
  streamKey,
  taskStreamId,
  vmStreamId,
} from '@dolly/domain';
import type { PoolClient } from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { CONFLICT_RETRY_ATTEMPTS, backOffAfterConflict } from './conflict-retry';
import { asDomainEvents } from './command-handler';
import type { PostgresEventStore } from './event-store';

const STREAM_ID_OF_KIND: Record<StreamKey['kind'], (id: string) => string> = {
  vm: vmStreamId,
  task: taskStreamId,
  datastore: datastoreStreamId,
  host: hostStreamId,
  pool: poolStreamId,
};

export const streamIdOf = (key: StreamKey) => STREAM_ID_OF_KIND[key.kind](key.id);

/** Every stream of a kind the store holds. */
export async function streamsOfKind(
  store: PostgresEventStore,
  kind: StreamKey['kind'],
  client: PoolClient,
): Promise<StreamKey[]> {
  const prefix = streamIdOf({ kind, id: '' });
  return (await store.streamIdsOfType(kind as StreamType, client))
    .filter((streamId) => streamId.startsWith(prefix))
    .map((streamId) => ({ kind, id: streamId.slice(prefix.length) }));
}

export interface WorkspaceDecision<Result> {
  /** The streams to read before deciding; any other the decision turns out to need is read too. */
  streams: StreamKey[];
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
  decide(ws: Workspace, ids: IdSource): Result;
  ids: IdSource;
  metadata: EventMetadata;
  now: string;
  /** The version the client decided against, on the stream it named (409 when it moved on). */
  expected?: { stream: StreamKey; version: number };
  alsoInTransaction?: (client: PoolClient, outcome: WorkspaceOutcome<Result>) => Promise<void>;
}

export interface WorkspaceOutcome<Result> {
  result: Result;
  /** Each written stream's events, by `kind:id`. */
  events: Map<string, RecordedEvent[]>;
  /** Every read or written stream's version after the decision, by `kind:id`. */
  versions: Map<string, number>;
  changed: boolean;
}

const MAX_STREAMS = 20_000;

/**
 * A decision across any number of streams, some of which it makes (new VMs, new tasks): read,
 * decide once in a Workspace, append every changed stream at the version it was read (a new
 * one at 0) in one transaction. A stream the decision needs but was not read is read and the
 * decision made again; a concurrent change anywhere makes it start over on fresh state.
 */
export async function decideInWorkspace<Result>(
  store: PostgresEventStore,
  request: WorkspaceDecision<Result>,
): Promise<WorkspaceOutcome<Result>> {
  const wanted = new Map(request.streams.map((key) => [streamKey(key.kind, key.id), key]));
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.transaction(async (client) => {
        for (;;) {
          const outcome = await attemptDecision(store, client, request, wanted);
          if (outcome !== 'read-more') return outcome;
        }
      });
    } catch (error) {
      const clients = request.expected && streamIdOf(request.expected.stream);
      const retry =
        error instanceof ConcurrencyError &&
        error.streamId !== clients &&
        attempt < CONFLICT_RETRY_ATTEMPTS;
      if (!retry) throw error;
      await backOffAfterConflict(attempt);
    }
  }
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
  // A Map keeps insertion order: re-inserting marks it used, the first key is the least recent.
  folded.delete(streamId);
  folded.set(streamId, entry);
  if (folded.size > MAX_FOLDED_STREAMS) folded.delete(folded.keys().next().value!);
}

async function attemptDecision<Result>(
  store: PostgresEventStore,
  client: PoolClient,
  request: WorkspaceDecision<Result>,
  wanted: Map<string, StreamKey>,
): Promise<WorkspaceOutcome<Result> | 'read-more'> {
  if (request.serializeOn) {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
      streamIdOf(request.serializeOn),
    ]);
  }
  if (request.discover)
    for (const key of await request.discover(client)) wanted.set(streamKey(key.kind, key.id), key);
  const keys = [...wanted.values()];
  const folded = foldedOf(store);
  // Taken before the read: a concurrent decision may remember a newer fold while this one reads,
  // and the events read follow the version asked for, not that newer one.
  const knownBefore = new Map(keys.map((key) => [streamIdOf(key), folded.get(streamIdOf(key))]));
  const newer = await store.readStreamsAfter(
    new Map([...knownBefore].map(([streamId, known]) => [streamId, known?.version ?? 0])),
    client,
  );
  const versions = new Map<string, number>();
  const loaded = keys.map((key) => {
    const streamId = streamIdOf(key);
    const known = knownBefore.get(streamId);
    const events = newer.get(streamId)!;
    const fold = STREAM_FOLDS[key.kind] as unknown as {
      evolve: (state: unknown, event: never) => unknown;
      initialState: () => unknown;
    };
    const state = asDomainEvents<never>(events).reduce(
      fold.evolve,
      known ? known.state : fold.initialState(),
    );
    const version = (known?.version ?? 0) + events.length;
    versions.set(streamKey(key.kind, key.id), version);
    remember(folded, streamId, { version, state });
    return { key, state };
  });
  if (request.expected) {
    const { stream, version } = request.expected;
    const actual = versions.get(streamKey(stream.kind, stream.id)) ?? 0;
    if (actual !== version) throw new ConcurrencyError(streamIdOf(stream), version, actual);
  }
  const ws = new Workspace(loaded);
  let result: Result;
  try {
    result = request.decide(ws, request.ids);
  } catch (error) {
    if (!(error instanceof StreamNotLoadedError)) throw error;
    if (wanted.size >= MAX_STREAMS)
      throw new Error(`A decision may read at most ${MAX_STREAMS} streams`);
    wanted.set(streamKey(error.key.kind, error.key.id), error.key);
    return 'read-more';
  }
  const outcome: WorkspaceOutcome<Result> = {
    result,
    events: new Map(),
    versions,
    changed: false,
  };
  for (const { key, events } of ws.changes()) {
    const name = streamKey(key.kind, key.id);
    const from = versions.get(name) ?? 0;
    const appended = await store.appendToStream(
      streamIdOf(key),
      key.kind as StreamType,
      from,
      events.map((event) => ({
        eventId: uuidv7(),
        type: event.type,
        data: event.data,
        metadata: request.metadata,
        occurredAt: request.now,
      })),
      client,
    );
    if (!appended.success)
      throw new ConcurrencyError(streamIdOf(key), from, appended.actualVersion);
    outcome.events.set(name, appended.events);
    outcome.versions.set(name, appended.nextStreamVersion);
    outcome.changed = true;
  }
  if (request.alsoInTransaction) await request.alsoInTransaction(client, outcome);
  return outcome;
}
