import type { RecordedEvent } from '@dolly/contracts';
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
  async applyAll(events, target) {
    // One row per task: a batch may hold several events of one task (ON CONFLICT cannot touch a row twice).
    const byTask = new Map<string, RecordedEvent[]>();
    for (const event of events)
      byTask.set(event.metadata.taskId!, [...(byTask.get(event.metadata.taskId!) ?? []), event]);
    const tasks = [...byTask.values()].map((taskEvents) => {
      const first = taskEvents[0];
      const latest = taskEvents.reduce((a, b) => (a.occurredAt >= b.occurredAt ? a : b));
      const lastPosition = taskEvents
        .map((e) => BigInt(e.globalPosition))
        .reduce((a, b) => (a > b ? a : b));
      return { first, latest, lastPosition };
    });
    await target.query(
      `INSERT INTO ${target.table('tasks')} AS t
         (task_id, operation, target_type, target_id, status, progress_percent, bytes_done, actor_id, actor_role,
          correlation_id, created_at, updated_at, completed_at, last_position)
       SELECT task_id, operation, target_type, target_id, 'succeeded', 100, 0, actor_id, actor_role,
              correlation_id, created_at, updated_at, updated_at, last_position
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[],
                     $8::timestamptz[], $9::timestamptz[], $10::bigint[])
           AS i(task_id, operation, target_type, target_id, actor_id, actor_role, correlation_id, created_at, updated_at, last_position)
       ON CONFLICT (task_id) DO UPDATE SET
         created_at = least(t.created_at, excluded.created_at),
         updated_at = greatest(t.updated_at, excluded.updated_at),
         completed_at = greatest(t.completed_at, excluded.completed_at),
         last_position = greatest(t.last_position, excluded.last_position)`,
      [
        tasks.map((t) => t.first.metadata.taskId),
        tasks.map((t) => t.first.metadata.command ?? t.first.type),
        tasks.map((t) => t.first.streamType),
        tasks.map((t) => entityId(t.first.streamId)),
        tasks.map((t) => t.first.metadata.actor.id),
        tasks.map((t) => t.first.metadata.actor.role),
        tasks.map((t) => t.first.metadata.correlationId),
        tasks.map((t) => t.first.occurredAt),
        tasks.map((t) => t.latest.occurredAt),
        tasks.map((t) => t.lastPosition.toString()),
      ],
    );
  },
};
