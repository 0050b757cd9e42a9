import type { Projection } from '../projection';

/** Every event, with who caused it and when: what an auditor reads for one object's history. */
export const auditLogProjection: Projection = {
  name: 'audit-log',
  tables: ['audit_log'],
  handles: () => true,
  async apply(event, target) {
    const { metadata } = event;
    await target.query(
      `INSERT INTO ${target.table('audit_log')}
         (event_id, global_position, stream_id, stream_type, stream_version, type, schema_version, actor_id, actor_role,
          correlation_id, causation_id, task_id, occurred_at, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        event.eventId,
        event.globalPosition,
        event.streamId,
        event.streamType,
        event.streamVersion,
        event.type,
        event.schemaVersion,
        metadata.actor.id,
        metadata.actor.role,
        metadata.correlationId,
        metadata.causationId,
        metadata.taskId,
        event.occurredAt,
        JSON.stringify(event.data),
      ],
    );
  },
};
