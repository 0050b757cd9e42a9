import { streamIdOf } from '../shared/streams';
import { type Command, type Decider, assertNever } from '../shared/decider';
import { IllegalStateError, NotFoundError } from '../shared/errors';
import type { TaskEvent, TaskFailed, TaskQueued } from './task.events';

export type TaskState =
  | { status: 'absent' }
  | {
      status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
      taskId: string;
      operation: string;
      /** The attempt running now (or the last one); 0 before any worker started. */
      attempt: number;
      cancelRequested: boolean;
      job: TaskQueued['data']['job'];
      target: TaskQueued['data']['target'];
      placement: TaskQueued['data']['placement'];
    };

export const taskStreamId = (taskId: string) => streamIdOf({ kind: 'task', id: taskId });

export type QueueTask = Command<'QueueTask', TaskQueued['data']>;
export type StartTask = Command<'StartTask', { taskId: string; workerId: string }>;
/** `attempt` is the caller's: a worker that was replaced by a newer attempt is refused. */
export type SucceedTask = Command<'SucceedTask', { taskId: string; attempt: number }>;
export type FailTask = Command<
  'FailTask',
  {
    taskId: string;
    attempt: number;
    code: string;
    message: string;
    reasons?: TaskFailed['data']['reasons'];
  }
>;
export type RequestTaskCancel = Command<'RequestTaskCancel', { taskId: string }>;
export type ConfirmTaskCancelled = Command<
  'ConfirmTaskCancelled',
  { taskId: string; attempt: number }
>;

export type OpenTransfer = Command<
  'OpenTransfer',
  { taskId: string; attempt: number; url: string }
>;

export type TaskCommand =
  | QueueTask
  | StartTask
  | SucceedTask
  | FailTask
  | RequestTaskCancel
  | ConfirmTaskCancelled
  | OpenTransfer;

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

function existing(state: TaskState, taskId: string): Exclude<TaskState, { status: 'absent' }> {
  if (state.status === 'absent')
    throw new NotFoundError('TASK.NOT_FOUND', `Task ${taskId} does not exist`);
  return state;
}

function unfinished(state: TaskState, taskId: string) {
  const task = existing(state, taskId);
  if (FINISHED.has(task.status)) {
    throw new IllegalStateError(
      'TASK.ALREADY_FINISHED',
      `Task ${taskId} has already ${task.status}`,
    );
  }
  return task;
}

/** Fencing: only the current attempt may report an outcome. */
function currentAttempt(state: TaskState, taskId: string, attempt: number) {
  const task = unfinished(state, taskId);
  if (task.status !== 'running' || task.attempt !== attempt) {
    throw new IllegalStateError(
      'TASK.ATTEMPT_SUPERSEDED',
      `Attempt ${attempt} of task ${taskId} is not the running one (attempt ${task.attempt}, ${task.status})`,
    );
  }
  return task;
}

export const taskDecider: Decider<TaskState, TaskCommand, TaskEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide(command, state) {
    const { taskId } = command.data;
    switch (command.type) {
      case 'QueueTask':
        if (state.status !== 'absent')
          throw new IllegalStateError('TASK.ALREADY_EXISTS', `Task ${taskId} already exists`);
        return [{ type: 'TaskQueued', data: command.data }];
      case 'StartTask': {
        const task = unfinished(state, taskId);
        // A task asked to stop before a worker took it up ends here rather than starting.
        if (task.cancelRequested)
          return [{ type: 'TaskCancelled', data: { taskId, attempt: task.attempt } }];
        return [
          {
            type: 'TaskStarted',
            data: { taskId, attempt: task.attempt + 1, workerId: command.data.workerId },
          },
        ];
      }
      case 'SucceedTask':
        currentAttempt(state, taskId, command.data.attempt);
        return [{ type: 'TaskSucceeded', data: command.data }];
      case 'FailTask': {
        const task = unfinished(state, taskId);
        // A queued task may fail before any worker runs it (nothing can serve its datastores).
        if (task.status === 'running') currentAttempt(state, taskId, command.data.attempt);
        // At most what the event holds: the first reasons say enough, the message counts them all.
        const reasons = (command.data.reasons ?? []).slice(0, 100);
        return [{ type: 'TaskFailed', data: { ...command.data, reasons, attempt: task.attempt } }];
      }
      case 'RequestTaskCancel': {
        const task = unfinished(state, taskId);
        if (task.status === 'queued')
          return [{ type: 'TaskCancelled', data: { taskId, attempt: 0 } }];
        if (task.cancelRequested) return [];
        return [{ type: 'TaskCancelRequested', data: { taskId } }];
      }
      case 'ConfirmTaskCancelled':
        currentAttempt(state, taskId, command.data.attempt);
        return [{ type: 'TaskCancelled', data: command.data }];
      case 'OpenTransfer': {
        const task = currentAttempt(state, taskId, command.data.attempt);
        if (task.job.kind !== 'import' && task.job.kind !== 'export')
          throw new IllegalStateError(
            'TASK.NO_TRANSFER',
            `Task ${taskId} (${task.job.kind}) moves no package`,
          );
        return [{ type: 'TaskTransferOpened', data: command.data }];
      }
      default:
        return assertNever(command);
    }
  },
  evolve(state, event) {
    if (event.type === 'TaskQueued') {
      const { taskId, operation, job, target, placement } = event.data;
      return {
        status: 'queued',
        taskId,
        operation,
        job,
        target,
        placement,
        attempt: 0,
        cancelRequested: false,
      };
    }
    if (state.status === 'absent')
      throw new Error(`${event.type} applied to a task that does not exist`);
    switch (event.type) {
      case 'TaskStarted':
        return { ...state, status: 'running', attempt: event.data.attempt };
      case 'TaskSucceeded':
        return { ...state, status: 'succeeded' };
      case 'TaskFailed':
        return { ...state, status: 'failed' };
      case 'TaskCancelRequested':
        return { ...state, cancelRequested: true };
      case 'TaskCancelled':
        return { ...state, status: 'cancelled' };
      case 'TaskTransferOpened':
        return state;
      default:
        return assertNever(event);
    }
  },
};

/** Why a running attempt was stopped before its end. */
export type StopReason = 'cancelled' | 'superseded' | 'shutdown';

/** What the store says of a running attempt: nothing, or why it must stop. */
export function stopReason(task: TaskState, attempt: number): StopReason | null {
  if (task.status !== 'running' || task.attempt !== attempt) return 'superseded';
  return task.cancelRequested ? 'cancelled' : null;
}
