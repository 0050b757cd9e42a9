import type { TaskRow } from '@dolly/read-models';
import { type Static, Type } from '@sinclair/typebox';

export const TASK_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;

export const TaskView = Type.Object({
  taskId: Type.String({ format: 'uuid' }),
  operation: Type.String({ description: 'The command (CreateVm, PowerOnVm...).' }),
  target: Type.Object({ type: Type.String(), id: Type.String() }),
  status: Type.Unsafe<(typeof TASK_STATUSES)[number]>({ type: 'string', enum: [...TASK_STATUSES] }),
  progress: Type.Object({
    percent: Type.Integer({ minimum: 0, maximum: 100 }),
    bytesDone: Type.Integer(),
  }),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
  actor: Type.Object({ id: Type.String(), role: Type.String() }),
  correlationId: Type.String({ format: 'uuid' }),
  projected: Type.Boolean({ description: 'Whether the read models show the task yet.' }),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  completedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});
export type TaskView = Static<typeof TaskView>;

export function taskView(row: TaskRow): TaskView {
  return {
    taskId: row.taskId,
    operation: row.operation,
    target: { type: row.targetType, id: row.targetId },
    status: row.status as TaskView['status'],
    progress: { percent: row.progressPercent, bytesDone: row.bytesDone },
    error: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? '' } : null,
    actor: { id: row.actorId, role: row.actorRole },
    correlationId: row.correlationId,
    projected: true,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    completedAt: row.completedAt?.toISOString() ?? null,
  };
}
