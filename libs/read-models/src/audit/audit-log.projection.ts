import type { Projection } from '../projection';

/** Every event, with who caused it and when: what an auditor reads for one object's history. */
export const auditLogProjection: Projection = {
  name: 'audit-log',
  tables: ['audit_log'],
  handles: () => true,
  async applyAll(events, target) {
    await target.query(
      `INSERT INTO ${target.table('audit_log')}
         (event_id, global_position, stream_id, stream_type, stream_version, type, schema_version, actor_id, actor_role,
          correlation_id, causation_id, task_id, occurred_at, data, command)
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
  },
};
