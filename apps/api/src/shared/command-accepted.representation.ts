import { type Static, Type } from '@sinclair/typebox';
import { TaskView } from '../tasks/task.representation';

/** The answer to every command: 202 with its task, or 200/201 (nothing to change, or waited for). */
export const CommandAccepted = Type.Object({
  taskId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()], {
    description: 'Null when nothing changed.',
  }),
  status: Type.Union([Type.Literal('queued'), Type.Literal('succeeded')], {
    description:
      'succeeded: decided in one step; queued: a worker does it, the task tells when it ends.',
  }),
  changed: Type.Boolean(),
  projected: Type.Boolean({ description: 'Whether the read models already show the change.' }),
  target: Type.Object({ type: Type.String(), id: Type.String(), version: Type.Integer() }),
  links: Type.Object({ task: Type.Union([Type.String(), Type.Null()]), target: Type.String() }),
  resource: Type.Optional(
    Type.Unknown({
      description:
        'The target as the read model shows it, when the client waited and the task succeeded.',
    }),
  ),
  task: Type.Optional(TaskView),
  result: Type.Optional(
    Type.Unknown({
      description: 'What the command answered (the desktop an entitlement handed out).',
    }),
  ),
});
export type CommandAccepted = Static<typeof CommandAccepted>;
