import type { Projection } from '../projection';
import { entityId } from '../projection';

/**
 * Tasks an operator watches. A command decided in one step (create, power on, rename...) is a task
 * that succeeded when its events were recorded; it appears here when they are projected.
 * Events of one task may sit on several streams, which Kafka delivers in no common order: every
 * column is therefore order-independent (greatest wins), so a rebuild in store order agrees.
 */
export const tasksProjection: Projection = {
  name: 'tasks',
  tables: ['tasks'],
  handles: (event) => event.metadata.taskId !== null,
  async apply(event, target) {
    const { metadata } = event;
    await target.query(
      `INSERT INTO ${target.table('tasks')} AS t
         (task_id, operation, target_type, target_id, status, progress_percent, bytes_done, actor_id, actor_role,
          correlation_id, created_at, updated_at, completed_at, last_position)
       VALUES ($1, $2, $3, $4, 'succeeded', 100, 0, $5, $6, $7, $8, $8, $8, $9)
       ON CONFLICT (task_id) DO UPDATE SET
         updated_at = greatest(t.updated_at, excluded.updated_at),
         completed_at = greatest(t.completed_at, excluded.completed_at),
         last_position = greatest(t.last_position, excluded.last_position)`,
      [
        metadata.taskId,
        metadata.command ?? event.type,
        event.streamType,
        entityId(event.streamId),
        metadata.actor.id,
        metadata.actor.role,
        metadata.correlationId,
        event.occurredAt,
        event.globalPosition,
      ],
    );
  },
};
