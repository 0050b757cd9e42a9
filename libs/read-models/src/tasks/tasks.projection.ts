import type { RecordedEvent } from '@dolly/contracts';
import { type TaskEvent, objectIdOf } from '@dolly/domain';
import type { Projection, ProjectionTarget } from '../projection';

const COLUMNS = `task_id, operation, target_type, target_id, status, implicit, attempt, worker_id, cancel_requested,
  error_code, error_message, actor_id, actor_role, correlation_id, created_at, updated_at, completed_at`;

async function applyTaskEvent(recorded: RecordedEvent, target: ProjectionTarget): Promise<void> {
  const table = target.table('tasks');
  const event = recorded as unknown as TaskEvent;
  const { taskId } = event.data;
  const at = recorded.occurredAt;
  switch (event.type) {
    case 'TaskQueued': {
      const { metadata } = recorded;
      // Events of the task's other streams may have come first and left an implicit row: the
      // task's own stream overrides it.
      await target.query(
        `INSERT INTO ${table} AS t (${COLUMNS})
         VALUES ($1, $2, $3, $4, 'queued', false, 0, NULL, false, NULL, NULL, $5, $6, $7, $8, $8, NULL)
         ON CONFLICT (task_id) DO UPDATE SET operation = excluded.operation, target_type = excluded.target_type,
           target_id = excluded.target_id, status = excluded.status, implicit = false, created_at = excluded.created_at,
           updated_at = excluded.updated_at, completed_at = NULL, actor_id = excluded.actor_id,
           actor_role = excluded.actor_role, correlation_id = excluded.correlation_id
         WHERE t.implicit`,
        [
          taskId,
          event.data.operation,
          event.data.target.type,
          event.data.target.id,
          metadata.actor.id,
          metadata.actor.role,
          metadata.correlationId,
          at,
        ],
      );
      return;
    }
    case 'TaskStarted':
      await target.query(
        `UPDATE ${table} SET status = 'running', attempt = $2, worker_id = $3, updated_at = $4 WHERE task_id = $1`,
        [taskId, event.data.attempt, event.data.workerId, at],
      );
      return;
    case 'TaskSucceeded':
      await target.query(
        `UPDATE ${table} SET status = 'succeeded', updated_at = $2, completed_at = $2 WHERE task_id = $1`,
        [taskId, at],
      );
      return;
    case 'TaskFailed':
      await target.query(
        `UPDATE ${table} SET status = 'failed', error_code = $2, error_message = $3, error_reasons = $5,
           updated_at = $4, completed_at = $4 WHERE task_id = $1`,
        [taskId, event.data.code, event.data.message, at, JSON.stringify(event.data.reasons)],
      );
      return;
    case 'TaskCancelRequested':
      await target.query(
        `UPDATE ${table} SET cancel_requested = true, updated_at = $2 WHERE task_id = $1`,
        [taskId, at],
      );
      return;
    case 'TaskCancelled':
      await target.query(
        `UPDATE ${table} SET status = 'cancelled', updated_at = $2, completed_at = $2 WHERE task_id = $1`,
        [taskId, at],
      );
      return;
  }
}

/** Which of a command's streams an implicit task is shown on: the first of these kinds, else any. */
const TARGET_RANK = `array_position(ARRAY['vm', 'pool', 'host', 'datastore', 'worker']::text[], %s)`;

/**
 * A command decided in one step (register, rename, convert) is a task that succeeded when its
 * events were recorded: known from their metadata only. Such a row never overrides a task with a
 * stream of its own, whichever arrives first (they may travel on different partitions). A command
 * that wrote several streams (an entitlement: the pool, the desktop, the datastore) reaches the
 * projector in any order, so its row does not depend on which came first: it shows the stream of
 * the first kind in TARGET_RANK (the lowest id among equals), as a rebuild in the store's order does.
 */
async function applyImplicit(recorded: RecordedEvent, target: ProjectionTarget): Promise<void> {
  const { metadata } = recorded;
  const rank = (row: string) => `coalesce(${TARGET_RANK.replace('%s', `${row}.target_type`)}, 99)`;
  await target.query(
    `INSERT INTO ${target.table('tasks')} AS t (${COLUMNS})
     VALUES ($1, $2, $3, $4, 'succeeded', true, 0, NULL, false, NULL, NULL, $5, $6, $7, $8, $8, $8)
     ON CONFLICT (task_id) DO UPDATE SET operation = excluded.operation, target_type = excluded.target_type,
       target_id = excluded.target_id, actor_id = excluded.actor_id, actor_role = excluded.actor_role,
       correlation_id = excluded.correlation_id, created_at = excluded.created_at,
       updated_at = excluded.updated_at, completed_at = excluded.completed_at
     WHERE t.implicit AND (${rank('excluded')}, excluded.target_id) < (${rank('t')}, t.target_id)`,
    [
      metadata.taskId,
      metadata.command ?? recorded.type,
      recorded.streamType,
      objectIdOf(recorded.streamId),
      metadata.actor.id,
      metadata.actor.role,
      metadata.correlationId,
      recorded.occurredAt,
    ],
  );
}

/** Tasks an operator watches: queued, running, and how they ended. */
export const tasksProjection: Projection = {
  name: 'tasks',
  tables: ['tasks'],
  handles: (event) => event.streamType === 'task' || event.metadata.taskId !== null,
  async apply(event, target) {
    if (event.streamType === 'task') await applyTaskEvent(event, target);
    else await applyImplicit(event, target);
  },
};
