import type { TaskProgressRow, TaskRow } from '@dolly/read-models';
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
    doneBytes: Type.Integer(),
    totalBytes: Type.Integer(),
    phase: Type.Union([Type.String(), Type.Null()], {
      description: 'What the worker is doing (copy, merge...).',
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

export type Progress = Pick<TaskProgressRow, 'phase' | 'doneBytes' | 'totalBytes' | 'attempt'>;

function progressOf(row: TaskRow, progress: Progress | null): TaskView['progress'] {
  if (row.status === 'succeeded')
    return {
      percent: 100,
      doneBytes: progress?.totalBytes ?? 0,
      totalBytes: progress?.totalBytes ?? 0,
      phase: null,
    };
  if (!progress || progress.attempt !== row.attempt || progress.totalBytes === 0) {
    return {
      percent: 0,
      doneBytes: 0,
      totalBytes: progress?.totalBytes ?? 0,
      phase: progress?.phase ?? null,
    };
  }
  const percent = Math.min(99, Math.floor((100 * progress.doneBytes) / progress.totalBytes));
  return {
    percent,
    doneBytes: progress.doneBytes,
    totalBytes: progress.totalBytes,
    phase: progress.phase,
  };
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
