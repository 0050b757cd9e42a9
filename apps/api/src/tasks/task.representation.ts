import {
  PROGRESS_UNITS,
  type ProgressUnit,
  type TaskProgressRow,
  type TaskRow,
} from '@dolly/read-models';
import { type Static, Type } from '@sinclair/typebox';

export const TASK_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

export const TaskView = Type.Object({
  taskId: Type.String({ format: 'uuid' }),
  operation: Type.String({ description: 'The command (CreateVm, PowerOnVm...).' }),
  target: Type.Object({ type: Type.String(), id: Type.String() }),
  status: Type.Unsafe<(typeof TASK_STATUSES)[number]>({ type: 'string', enum: [...TASK_STATUSES] }),
  attempt: Type.Integer({ description: 'The worker attempt running (or last run); 0 before any.' }),
  workerId: Type.Union([Type.String(), Type.Null()]),
  cancelRequested: Type.Boolean(),
  progress: Type.Object({
    percent: Type.Integer({ minimum: 0, maximum: 100 }),
    doneBytes: Type.Integer({ description: 'Bytes done; 0 when the task counts events.' }),
    totalBytes: Type.Integer({ description: 'Bytes to do; 0 when the task counts events.' }),
    unit: Type.Unsafe<ProgressUnit>({
      type: 'string',
      enum: [...PROGRESS_UNITS],
      description: 'What done and total count: bytes (a worker’s job), events (a rebuild).',
    }),
    done: Type.Integer({ description: 'Done so far, in the unit.' }),
    total: Type.Integer({ description: 'To do in all, in the unit.' }),
    perSecond: Type.Union([Type.Number(), Type.Null()], {
      description: 'The rate at the last report, in the unit per second; null when not said.',
    }),
    phase: Type.Union([Type.String(), Type.Null()], {
      description: 'What the worker is doing (copy, merge, replay, switch-over...).',
    }),
  }),
  error: Type.Union([
    Type.Object({
      code: Type.String(),
      message: Type.String(),
      reasons: Type.Array(
        Type.Object({
          code: Type.String(),
          detail: Type.String(),
          at: Type.Optional(Type.String()),
        }),
        { description: 'Every reason, when there were several (a refused package).' },
      ),
    }),
    Type.Null(),
  ]),
  actor: Type.Object({ id: Type.String(), role: Type.String() }),
  correlationId: Type.String({ format: 'uuid' }),
  projected: Type.Boolean({ description: 'Whether the read models show the task yet.' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  completedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type TaskView = Static<typeof TaskView>;

export type Progress = Pick<
  TaskProgressRow,
  'phase' | 'done' | 'total' | 'unit' | 'perSecond' | 'attempt'
>;

/** How far a task got, in its unit; bytes also under their own names, as before units. */
export function progressView(
  percent: number,
  progress: Pick<Progress, 'done' | 'total' | 'unit' | 'perSecond'> | null,
  phase: string | null,
): TaskView['progress'] {
  const unit = progress?.unit ?? 'bytes';
  const done = progress?.done ?? 0;
  const total = progress?.total ?? 0;
  return {
    percent,
    doneBytes: unit === 'bytes' ? done : 0,
    totalBytes: unit === 'bytes' ? total : 0,
    unit,
    done,
    total,
    perSecond: progress?.perSecond ?? null,
    phase,
  };
}

function progressOf(row: TaskRow, progress: Progress | null): TaskView['progress'] {
  if (row.status === 'succeeded')
    return progressView(100, progress && { ...progress, done: progress.total }, null);
  if (!progress || progress.attempt !== row.attempt || progress.total === 0)
    return progressView(0, progress && { ...progress, done: 0 }, progress?.phase ?? null);
  const percent = Math.min(99, Math.floor((100 * progress.done) / progress.total));
  return progressView(percent, progress, progress.phase);
}

export function taskView(row: TaskRow, progress: Progress | null = null): TaskView {
  return {
    taskId: row.taskId,
    operation: row.operation,
    target: { type: row.targetType, id: row.targetId },
    status: row.status as TaskView['status'],
    attempt: row.attempt,
    workerId: row.workerId,
    cancelRequested: row.cancelRequested,
    progress: progressOf(row, progress),
    error: row.errorCode
      ? { code: row.errorCode, message: row.errorMessage ?? '', reasons: row.errorReasons ?? [] }
      : null,
    actor: { id: row.actorId, role: row.actorRole },
    correlationId: row.correlationId,
    projected: true,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    completedAt: row.completedAt?.toISOString() ?? null,
  };
}
