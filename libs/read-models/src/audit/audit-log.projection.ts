import { EVENT_CATALOG, type RecordedEvent, currentSchemaVersion } from '@dolly/contracts';
import { EVENT_COLUMNS, rowToEvent } from '@dolly/event-store';
import type { Projection, ProjectionTarget } from '../projection';

const COLUMNS = `event_id, global_position, stream_id, stream_type, stream_version, type, schema_version,
  actor_id, actor_role, correlation_id, causation_id, task_id, occurred_at, data, command`;

/** Every event type with the version today's code reads it as: $1 and $2 of the statements below. */
const TODAY = [
  EVENT_CATALOG.map((entry) => entry.type),
  EVENT_CATALOG.map((entry) => currentSchemaVersion(entry.type)),
];
const STORED_AS_TODAY = `EXISTS (SELECT FROM unnest($1::text[], $2::int[]) AS today(type, version)
  WHERE today.type = e.type AND today.version = e.schema_version)`;

/** The rows of the store's events (`e`) that `where` picks and that are stored as read today. */
const copyStoredAsToday = (table: string, where: string) => `
  INSERT INTO ${table} (${COLUMNS})
  SELECT e.event_id, e.global_position, e.stream_id, e.stream_type, e.stream_version, e.type, e.schema_version,
         e.metadata #>> '{actor,id}', e.metadata #>> '{actor,role}', (e.metadata ->> 'correlationId')::uuid,
         (e.metadata ->> 'causationId')::uuid, (e.metadata ->> 'taskId')::uuid, e.occurred_at, e.data,
         e.metadata ->> 'command'
    FROM event_store.events e WHERE ${where} AND ${STORED_AS_TODAY}`;

/** Rows written from events as the projector read them (an earlier version's data upcast). */
async function insertAsRead(
  target: ProjectionTarget,
  events: readonly RecordedEvent[],
): Promise<void> {
  await target.query(
    `INSERT INTO ${target.table('audit_log')} (${COLUMNS})
     SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::int[], $6::text[], $7::int[], $8::text[],
                          $9::text[], $10::uuid[], $11::uuid[], $12::uuid[], $13::timestamptz[], $14::jsonb[],
                          $15::text[])`,
    [
      events.map((e) => e.eventId),
      events.map((e) => e.globalPosition),
      events.map((e) => e.streamId),
      events.map((e) => e.streamType),
      events.map((e) => e.streamVersion),
      events.map((e) => e.type),
      events.map((e) => e.schemaVersion),
      events.map((e) => e.metadata.actor.id),
      events.map((e) => e.metadata.actor.role),
      events.map((e) => e.metadata.correlationId),
      events.map((e) => e.metadata.causationId),
      events.map((e) => e.metadata.taskId),
      events.map((e) => e.occurredAt),
      events.map((e) => JSON.stringify(e.data)),
      events.map((e) => e.metadata.command ?? null),
    ],
  );
}

const PAGE = 5000;

/**
 * Every event, with who caused it and when, as today's code reads it: what an auditor reads for
 * one object's history. Applied events are the store's own (the projector holds each against the
 * store first), so an event stored in today's version of its type (nearly all) is copied inside
 * PostgreSQL, by position: its content never travels to the projector and back, which a rebuild
 * would do a million times. One recorded in an earlier version is written as upcast.
 */
export const auditLogProjection: Projection = {
  name: 'audit-log',
  tables: ['audit_log'],
  handles: () => true,
  async applyAll(events, target) {
    const table = target.table('audit_log');
    const { rows } = (await target.query(
      `${copyStoredAsToday(table, 'e.global_position = ANY($3::bigint[])')} RETURNING global_position::text`,
      [...TODAY, events.map((event) => event.globalPosition)],
    )) as { rows: { global_position: string }[] };
    if (rows.length === events.length) return;
    const copied = new Set(rows.map((row) => row.global_position));
    await insertAsRead(
      target,
      events.filter((event) => !copied.has(event.globalPosition)),
    );
  },
  async copyFromStore(target, horizon) {
    const table = target.table('audit_log');
    await target.query(copyStoredAsToday(table, 'e.transaction_id < $3::xid8'), [
      ...TODAY,
      horizon,
    ]);
    for (let after = '0'; ;) {
      const { rows } = (await target.query(
        `SELECT ${EVENT_COLUMNS} FROM event_store.events e
          WHERE e.transaction_id < $3::xid8 AND e.global_position > $4::bigint AND NOT ${STORED_AS_TODAY}
          ORDER BY e.global_position LIMIT ${PAGE}`,
        [...TODAY, horizon, after],
      )) as { rows: Parameters<typeof rowToEvent>[0][] };
      if (rows.length === 0) return;
      await insertAsRead(target, rows.map(rowToEvent));
      after = rows[rows.length - 1].global_position;
    }
  },
};
