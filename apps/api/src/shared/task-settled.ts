import { type PostgresEventStore } from '@dolly/event-store';
import { type ProjectionWaiter } from './projection-waiter';

export interface TaskSettled {
  /** The task ended (its row says so) in time. */
  ended: boolean;
  /** And its target's stream was projected up to `version` in time. */
  projected: boolean;
  /** The target stream's version that shows the task's effect. */
  version: number;
}

/**
 * Waits until a task has ended and the projector has applied what it wrote on its target's
 * stream (at least `atLeastVersion`): the task's row and its target's rows travel on different
 * partitions, so only then does a caller reading the target see the task's effect.
 */
export async function taskSettled(
  waiter: ProjectionWaiter,
  store: PostgresEventStore,
  task: { taskId: string; byWorker: boolean },
  target: { streamId: string; atLeastVersion?: number },
  timeoutMs: number,
): Promise<TaskSettled> {
  const deadline = Date.now() + timeoutMs;
  const ended = await waiter.waitForTask(task.taskId, timeoutMs, { byWorker: task.byWorker });
  const version = await effectVersion(store, task.taskId, target);
  const projected =
    ended &&
    (await waiter.waitForStream(target.streamId, version, Math.max(0, deadline - Date.now())));
  return { ended, projected, version };
}

/**
 * Waits until the projector has applied what an ended task wrote on its target's stream (at
 * least `atLeastVersion`).
 */
export async function targetProjected(
  waiter: ProjectionWaiter,
  store: PostgresEventStore,
  taskId: string,
  target: { streamId: string; atLeastVersion?: number },
  timeoutMs: number,
): Promise<{ projected: boolean; version: number }> {
  const version = await effectVersion(store, taskId, target);
  return { projected: await waiter.waitForStream(target.streamId, version, timeoutMs), version };
}

/** The target stream's version that shows the task's effect. */
async function effectVersion(
  store: PostgresEventStore,
  taskId: string,
  target: { streamId: string; atLeastVersion?: number },
): Promise<number> {
  return Math.max(
    (await store.versionWrittenFor(target.streamId, taskId)) ?? 0,
    target.atLeastVersion ?? 0,
  );
}
