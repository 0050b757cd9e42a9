import {
  type EventMetadata,
  type RecordedEvent,
  type StreamType,
  currentSchemaVersion,
  kafkaMessageBytes,
  toKafkaMessage,
  upcastToCurrent,
} from '@dolly/contracts';
import { RuleViolationError, type StreamKey, type StreamKind, parseStreamId } from '@dolly/domain';
import type { Pool, PoolClient } from 'pg';
import { BatchedAppends } from './batched-appends';
import { checkOut } from './check-out';

/** An event about to be appended: the store gives it its stream version and global position. */
export interface NewEvent {
  eventId: string;
  type: string;
  data: unknown;
  metadata: EventMetadata;
  /** ISO 8601. */
  occurredAt: string;
}

/** A number is the exact version the stream must be at (0: it must not exist); 'any' skips the check. */
export type ExpectedVersion = number | 'any';

export type AppendResult =
  | { success: true; nextStreamVersion: number; events: RecordedEvent[] }
  | { success: false; actualVersion: number };

/** Where a reader of the global order stands: the last (transaction, position) it has read. */
export interface GlobalCheckpoint {
  transactionId: string;
  globalPosition: string;
}

export const START_OF_STORE: GlobalCheckpoint = { transactionId: '0', globalPosition: '0' };

/** The largest global position there can be (the identity column is a bigint). */
export const LAST_GLOBAL_POSITION = String(2n ** 63n - 1n);

export interface GlobalReadResult {
  events: RecordedEvent[];
  /** Where to continue from; equal to the one given when nothing was read. */
  checkpoint: GlobalCheckpoint;
}

export type Queryable = Pick<Pool | PoolClient, 'query'>;

const UNIQUE_VIOLATION = '23505';

/** The largest event the store takes by default (DOLLY_EVENT_MAX_BYTES): under Kafka's default 1 MiB. */
export const DEFAULT_EVENT_MAX_BYTES = 1_000_000;

export interface EventStoreOptions {
  /** No event may be larger than this as a Kafka message (key, data, headers). In bytes. */
  maxEventBytes?: number;
  /**
   * Decisions that change one stream, with nothing else to write, share commits with concurrent
   * ones (BatchedAppends): under load the store is no longer one commit per command.
   */
  groupCommits?: boolean;
}

/**
 * An append that would make an event too large to publish: refused before anything is written,
 * since the relay could never send it (HTTP 422 where a command causes it).
 */
export class EventTooLargeError extends RuleViolationError {
  constructor(
    readonly streamId: string,
    readonly oversized: readonly { type: string; bytes: number }[],
    readonly maxEventBytes: number,
  ) {
    super(
      'EVENT.TOO_LARGE',
      `Refused to append to ${streamId}: ${oversized.map((e) => `${e.type} would be ${e.bytes} bytes`).join(', ')}, more than the ${maxEventBytes} bytes an event may take (DOLLY_EVENT_MAX_BYTES)`,
      oversized.map((e) => ({
        code: 'EVENT.TOO_LARGE',
        detail: `${e.type} would be ${e.bytes} bytes; an event may take ${maxEventBytes}`,
      })),
    );
  }
}

// One statement: the version check, the events and their outbox rows commit together or not at all.
const APPEND_SQL = `
  WITH current_version AS (
    SELECT coalesce(max(stream_version), 0) AS version FROM event_store.events WHERE stream_id = $1
  ), input AS (
    SELECT * FROM unnest($3::uuid[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[], $8::timestamptz[])
      WITH ORDINALITY AS i(event_id, type, schema_version, data, metadata, occurred_at, n)
  ), appended AS (
    INSERT INTO event_store.events
      (event_id, stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at)
    SELECT i.event_id, $1, $2, c.version + i.n, i.type, i.schema_version, i.data, i.metadata, i.occurred_at
      FROM input i CROSS JOIN current_version c
     WHERE $9::int IS NULL OR c.version = $9::int
     ORDER BY i.n
    RETURNING global_position, stream_version, event_id
  ), outboxed AS (
    INSERT INTO event_store.outbox (global_position) SELECT global_position FROM appended
  )
  SELECT c.version AS previous_version, a.global_position::text AS global_position, a.stream_version
    FROM current_version c LEFT JOIN appended a ON true
   ORDER BY a.stream_version`;

/** An event row's columns, as `rowToEvent` reads them. */
export const EVENT_COLUMNS = `global_position::text AS global_position, transaction_id::text AS transaction_id, event_id,
  stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at`;

interface EventRow {
  global_position: string;
  transaction_id: string;
  event_id: string;
  stream_id: string;
  stream_type: StreamType;
  stream_version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: Date;
}

/** A new event as it reads back once the store has placed it. */
export function placedEvent(
  event: NewEvent,
  streamId: string,
  streamType: StreamType,
  streamVersion: number,
  globalPosition: string,
): RecordedEvent {
  return {
    eventId: event.eventId,
    type: event.type,
    schemaVersion: currentSchemaVersion(event.type),
    streamId,
    streamType,
    streamVersion,
    globalPosition,
    occurredAt: new Date(event.occurredAt).toISOString(),
    data: event.data,
    metadata: event.metadata,
  };
}

/** Rows are read back as the current version of their type: upcasting happens here, once. */
export function rowToEvent(row: EventRow): RecordedEvent {
  return {
    eventId: row.event_id,
    type: row.type,
    schemaVersion: currentSchemaVersion(row.type),
    streamId: row.stream_id,
    streamType: row.stream_type,
    streamVersion: row.stream_version,
    globalPosition: row.global_position,
    occurredAt: row.occurred_at.toISOString(),
    data: upcastToCurrent(row.type, row.schema_version, row.data),
    metadata: row.metadata,
  };
}

/**
 * The PostgreSQL event store. Streams are appended to with an expected version; the global order
 * is read by transaction id and position under the snapshot horizon, so no late commit is skipped.
 */
export class PostgresEventStore {
  readonly maxEventBytes: number;
  /** Where single-stream decisions append when the store groups commits. */
  readonly groupedCommits: BatchedAppends | undefined;

  constructor(
    private readonly pool: Pool,
    options: EventStoreOptions = {},
  ) {
    this.maxEventBytes = options.maxEventBytes ?? DEFAULT_EVENT_MAX_BYTES;
    this.groupedCommits = options.groupCommits ? new BatchedAppends(pool, this) : undefined;
  }

  /** Refuses events that would be larger, as published, than an event may be (EventTooLargeError). */
  refuseOversized(streamId: string, streamType: StreamType, events: readonly NewEvent[]) {
    const oversized = events.flatMap((event) => {
      // Placed at the largest position and version there are: the size as it will be published.
      const placed = placedEvent(event, streamId, streamType, 2 ** 31 - 1, LAST_GLOBAL_POSITION);
      const bytes = kafkaMessageBytes(toKafkaMessage(placed));
      return bytes > this.maxEventBytes ? [{ type: event.type, bytes }] : [];
    });
    if (oversized.length > 0) throw new EventTooLargeError(streamId, oversized, this.maxEventBytes);
  }

  /** Appends to one stream, atomically with its outbox rows. A conflict writes nothing. */
  async appendToStream(
    streamId: string,
    streamType: StreamType,
    expectedVersion: ExpectedVersion,
    events: readonly NewEvent[],
    db: Queryable = this.pool,
  ): Promise<AppendResult> {
    if (events.length === 0) throw new Error('Nothing to append');
    this.refuseOversized(streamId, streamType, events);
    const schemaVersions = events.map((event) => currentSchemaVersion(event.type));
    let rows: {
      previous_version: number;
      global_position: string | null;
      stream_version: number | null;
    }[];
    try {
      ({ rows } = await db.query(APPEND_SQL, [
        streamId,
        streamType,
        events.map((event) => event.eventId),
        events.map((event) => event.type),
        schemaVersions,
        events.map((event) => JSON.stringify(event.data)),
        events.map((event) => JSON.stringify(event.metadata)),
        events.map((event) => event.occurredAt),
        expectedVersion === 'any' ? null : expectedVersion,
      ]));
    } catch (error) {
      if (isStreamVersionConflict(error)) {
        // Read outside the (now aborted) transaction: what matters is the committed version.
        return { success: false, actualVersion: await this.streamVersion(streamId) };
      }
      throw error;
    }
    const previousVersion = rows[0].previous_version;
    if (rows[0].global_position === null) return { success: false, actualVersion: previousVersion };
    return {
      success: true,
      nextStreamVersion: previousVersion + events.length,
      events: rows.map((row, index) =>
        placedEvent(events[index], streamId, streamType, row.stream_version!, row.global_position!),
      ),
    };
  }

  async streamVersion(streamId: string, db: Queryable = this.pool): Promise<number> {
    const { rows } = await db.query<{ version: number }>(
      'SELECT coalesce(max(stream_version), 0) AS version FROM event_store.events WHERE stream_id = $1',
      [streamId],
    );
    return rows[0].version;
  }

  async readStream(streamId: string, db: Queryable = this.pool): Promise<RecordedEvent[]> {
    const { rows } = await db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM event_store.events WHERE stream_id = $1 ORDER BY stream_version`,
      [streamId],
    );
    return rows.map(rowToEvent);
  }

  /** Every stream of a kind the store holds. */
  async streamsOfKind(kind: StreamKind, db: Queryable = this.pool): Promise<StreamKey[]> {
    const { rows } = await db.query<{ stream_id: string }>(
      `SELECT stream_id FROM event_store.events WHERE stream_type = $1 AND stream_version = 1 ORDER BY stream_id`,
      [kind],
    );
    return rows.flatMap((row) => {
      const key = parseStreamId(row.stream_id);
      return key?.kind === kind ? [key] : [];
    });
  }

  /** The version of a stream's last event written for a task; null when the task wrote none there. */
  async versionWrittenFor(
    streamId: string,
    taskId: string,
    db: Queryable = this.pool,
  ): Promise<number | null> {
    const { rows } = await db.query<{ version: number | null }>(
      `SELECT max(stream_version) AS version FROM event_store.events WHERE stream_id = $1 AND metadata->>'taskId' = $2`,
      [streamId, taskId],
    );
    return rows[0].version;
  }

  /** Several streams in one round trip, each in version order. */
  async readStreams(
    streamIds: readonly string[],
    db: Queryable = this.pool,
  ): Promise<Map<string, RecordedEvent[]>> {
    const streams = new Map<string, RecordedEvent[]>(streamIds.map((id) => [id, []]));
    if (streamIds.length === 0) return streams;
    const { rows } = await db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM event_store.events WHERE stream_id = ANY($1) ORDER BY stream_id, stream_version`,
      [streamIds],
    );
    for (const row of rows) streams.get(row.stream_id)!.push(rowToEvent(row));
    return streams;
  }

  /** Each stream's events after the version given for it (what a reader holding that version lacks). */
  async readStreamsAfter(
    after: ReadonlyMap<string, number>,
    db: Queryable = this.pool,
  ): Promise<Map<string, RecordedEvent[]>> {
    const streamIds = [...after.keys()];
    const streams = new Map<string, RecordedEvent[]>(streamIds.map((id) => [id, []]));
    if (streamIds.length === 0) return streams;
    const { rows } = await db.query<EventRow>(
      `WITH known AS (SELECT * FROM unnest($1::text[], $2::int[]) AS k(known_stream, known_version))
       SELECT ${EVENT_COLUMNS} FROM event_store.events
         JOIN known ON stream_id = known_stream AND stream_version > known_version
        ORDER BY stream_id, stream_version`,
      [streamIds, streamIds.map((id) => after.get(id)!)],
    );
    for (const row of rows) streams.get(row.stream_id)!.push(rowToEvent(row));
    return streams;
  }

  /**
   * The next events in the global order after a checkpoint. Only transactions older than every
   * transaction still in progress are read, so an event that commits later always sorts after
   * the checkpoint: following this order never skips one.
   */
  async readAll(
    after: GlobalCheckpoint,
    limit: number,
    db: Queryable = this.pool,
  ): Promise<GlobalReadResult> {
    const { rows } = await db.query<EventRow>(
      // e.: the columns, not the text EVENT_COLUMNS makes of them ('10' sorts before '9').
      `SELECT ${EVENT_COLUMNS} FROM event_store.events e
        WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
          AND e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY e.transaction_id, e.global_position
        LIMIT $3`,
      [after.transactionId, after.globalPosition, limit],
    );
    const last = rows[rows.length - 1];
    return {
      events: rows.map(rowToEvent),
      checkpoint: last
        ? { transactionId: last.transaction_id, globalPosition: last.global_position }
        : after,
    };
  }

  /**
   * The events at some places (stream and version), in one round trip, by the index of each place:
   * undefined where the store has none. What consumers hold a Kafka message against.
   */
  async eventsAt(
    places: readonly { streamId: string; streamVersion: number }[],
    db: Queryable = this.pool,
  ): Promise<(RecordedEvent | undefined)[]> {
    const found: (RecordedEvent | undefined)[] = places.map(() => undefined);
    if (places.length === 0) return found;
    const { rows } = await db.query<EventRow & { place: number }>(
      `SELECT place::int AS place, ${EVENT_COLUMNS}
         FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS p(place_stream, place_version, place)
         JOIN event_store.events ON stream_id = place_stream AND stream_version = place_version`,
      [places.map((place) => place.streamId), places.map((place) => place.streamVersion)],
    );
    for (const row of rows) found[row.place - 1] = rowToEvent(row);
    return found;
  }

  /** Events recorded for a task, in order: what a task is made of before it is projected. */
  async readTask(taskId: string, db: Queryable = this.pool): Promise<RecordedEvent[]> {
    const { rows } = await db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM event_store.events e WHERE metadata->>'taskId' = $1
        ORDER BY e.transaction_id, e.global_position`,
      [taskId],
    );
    return rows.map(rowToEvent);
  }

  /** Runs work in one transaction on one connection; it commits when the work returns. */
  async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await checkOut(this.pool);
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}

function isStreamVersionConflict(error: unknown): boolean {
  const pgError = error as { code?: string; constraint?: string };
  return pgError.code === UNIQUE_VIOLATION && pgError.constraint === 'events_stream_version_unique';
}
