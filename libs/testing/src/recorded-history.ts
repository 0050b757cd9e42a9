import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  LIVE_SCHEMA,
  READ_MODEL_TABLES,
  type TableDifference,
  compareReadModels,
  discardSchema,
  rebuildReadModels,
  rebuildSchemaOf,
} from '@dolly/read-models';
import type { Pool } from 'pg';

/**
 * A history recorded from a real stack, kept as a fixture: its events as the store held them
 * (each at the schema version it was written with) and the read models they rebuild into. Today's
 * code must rebuild the same read models from it for as long as Dolly reads those events.
 */
export interface RecordedHistory {
  recordedAt: string;
  recordedBy: string;
  events: RecordedEvent[];
  readModels: Record<string, unknown[]>;
}

export interface RecordedEvent {
  eventId: string;
  streamId: string;
  streamType: string;
  streamVersion: number;
  type: string;
  schemaVersion: number;
  data: unknown;
  metadata: unknown;
  occurredAt: string;
}

/** Where the recorded history is kept (tools/fixtures/record-history.ts writes it). */
export const RECORDED_HISTORY_FILE = join(
  __dirname,
  '..',
  '..',
  'read-models',
  'fixtures',
  'recorded-history.json',
);

export function recordedHistory(): RecordedHistory {
  return JSON.parse(readFileSync(RECORDED_HISTORY_FILE, 'utf8')) as RecordedHistory;
}

/** Every event of the store, in the order readers follow, as one snapshot of it. */
export async function readRecordedEvents(pool: Pool): Promise<RecordedEvent[]> {
  const { rows } = await pool.query<RecordedEvent>(
    `SELECT event_id AS "eventId", stream_id AS "streamId", stream_type AS "streamType",
            stream_version AS "streamVersion", type, schema_version AS "schemaVersion", data,
            metadata, to_json(occurred_at) #>> '{}' AS "occurredAt"
       FROM event_store.events ORDER BY transaction_id, global_position`,
  );
  return rows;
}

/** Writes recorded events into an empty store, in their order, as they were (versions kept). */
export async function appendRecordedEvents(pool: Pool, events: RecordedEvent[]): Promise<void> {
  for (let first = 0; first < events.length; first += 500) {
    const batch = events.slice(first, first + 500);
    await pool.query(
      `INSERT INTO event_store.events
         (event_id, stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at)
       SELECT event_id, stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[], $7::jsonb[],
                     $8::jsonb[], $9::timestamptz[])
              WITH ORDINALITY AS e(event_id, stream_id, stream_type, stream_version, type, schema_version,
                                   data, metadata, occurred_at, n)
        ORDER BY n`,
      [
        batch.map((e) => e.eventId),
        batch.map((e) => e.streamId),
        batch.map((e) => e.streamType),
        batch.map((e) => e.streamVersion),
        batch.map((e) => e.type),
        batch.map((e) => e.schemaVersion),
        batch.map((e) => JSON.stringify(e.data)),
        batch.map((e) => JSON.stringify(e.metadata)),
        batch.map((e) => e.occurredAt),
      ],
    );
  }
}

/** Every read model's rows in a schema, each as JSON, in a stable order. */
export async function readModelRows(
  pool: Pool,
  schema: string,
): Promise<Record<string, unknown[]>> {
  const models: Record<string, unknown[]> = {};
  for (const table of READ_MODEL_TABLES) {
    const { rows } = await pool.query<{ row: unknown }>(
      `SELECT to_jsonb(t) AS row FROM "${schema}"."${table}" t ORDER BY to_jsonb(t)::text`,
    );
    models[table] = rows.map((r) => r.row);
  }
  return models;
}

/**
 * How the live read models differ from a rebuild of the store's whole history made now, table by
 * table: empty when they are equal row for row. The rebuild is dropped again.
 */
export async function differencesFromARebuild(pool: Pool): Promise<TableDifference[]> {
  const suffix = `check_${Date.now()}`;
  try {
    const { schema } = await rebuildReadModels(pool, { suffix });
    return await compareReadModels(pool, LIVE_SCHEMA, schema);
  } finally {
    await discardSchema(pool, rebuildSchemaOf(suffix));
  }
}

/** The read models the store's whole history rebuilds into, read back and dropped again. */
export async function rebuiltReadModels(pool: Pool): Promise<Record<string, unknown[]>> {
  const suffix = `rows_${Date.now()}`;
  try {
    const { schema } = await rebuildReadModels(pool, { suffix });
    return await readModelRows(pool, schema);
  } finally {
    await discardSchema(pool, rebuildSchemaOf(suffix));
  }
}
