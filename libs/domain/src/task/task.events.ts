import { type Static, Type } from '@sinclair/typebox';
import { Job, Placement } from '../jobs/jobs';
import { StringEnum, Uuid } from '../shared/schema';

/**
 * A task is a long operation an operator watches (a clone, a power-on): queued, run by a worker in
 * one or more attempts, and ended once: succeeded, failed or cancelled. Its stream is also the
 * work queue: workers consume TaskQueued from the task topic. Progress is not an event (it would
 * flood the store); it travels on its own topic and reaches the read model and SSE streams.
 */
const taskId = Uuid('The task.');

/** 'read-models': the read models as a whole (their rebuild), named by the live schema. */
export const TASK_TARGET_TYPES = ['vm', 'host', 'datastore', 'pool', 'read-models'] as const;

/**
 * v5: the read models' rebuild too (a projector's job, on the read models). Earlier versions live
 * with the contracts.
 */
export const TaskQueuedData = Type.Object(
  {
    taskId,
    operation: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'What is done (CloneVm, PowerOnVm...).',
    }),
    target: Type.Object(
      {
        type: StringEnum(TASK_TARGET_TYPES, 'Kind of object the task acts on.'),
        id: Type.String({ minLength: 1 }),
      },
      { additionalProperties: false },
    ),
    job: Job,
    placement: Placement,
  },
  { additionalProperties: false, description: 'A task was accepted and waits for a worker.' },
);

export const TaskStartedData = Type.Object(
  {
    taskId,
    attempt: Type.Integer({
      minimum: 1,
      description: 'Which attempt: a worker taking over a task starts the next one.',
    }),
    workerId: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false, description: 'A worker started (or took over) the task.' },
);

export const TaskSucceededData = Type.Object(
  { taskId, attempt: Type.Integer({ minimum: 1 }) },
  { additionalProperties: false, description: 'The task did all it had to.' },
);

export const TaskFailedData = Type.Object(
  {
    taskId,
    attempt: Type.Integer({
      minimum: 0,
      description: '0 when it failed before any worker started it.',
    }),
    code: Type.String({
      minLength: 1,
      description: 'Stable code of the reason (DATASTORE.INSUFFICIENT_SPACE...).',
    }),
    message: Type.String({ description: 'The reason, for humans.' }),
    reasons: Type.Array(
      Type.Object(
        {
          code: Type.String({ minLength: 1, maxLength: 128 }),
          detail: Type.String({ maxLength: 2000 }),
          at: Type.Optional(
            Type.String({
              maxLength: 1000,
              description: 'Where: a member or file of a package, an element, a field.',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      {
        maxItems: 100,
        description:
          'Every reason when there were several (a refused package); empty when the code and message say it all.',
      },
    ),
  },
  {
    additionalProperties: false,
    description: 'The task stopped on an error; what it had begun was undone.',
  },
);

export const TaskCancelRequestedData = Type.Object(
  { taskId },
  { additionalProperties: false, description: 'Someone asked to cancel the running task.' },
);

export const TaskCancelledData = Type.Object(
  { taskId, attempt: Type.Integer({ minimum: 0 }) },
  {
    additionalProperties: false,
    description: 'The task stopped on request; what it had begun was undone.',
  },
);

/**
 * Import and export jobs move a package's bytes between the API and the worker: the worker says
 * where the API reaches it for this attempt (its transfer endpoint), and the API presents there
 * the token whose digest the job holds.
 */
export const TaskTransferOpenedData = Type.Object(
  {
    taskId,
    attempt: Type.Integer({ minimum: 1 }),
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      pattern: '^https?://',
      description: 'The worker’s transfer endpoint for this task (DOLLY_WORKER_TRANSFER_URL).',
    }),
  },
  {
    additionalProperties: false,
    description: 'The worker running the task waits for the package’s bytes (or to send them).',
  },
);

export type TaskQueued = { type: 'TaskQueued'; data: Static<typeof TaskQueuedData> };
export type TaskTransferOpened = {
  type: 'TaskTransferOpened';
  data: Static<typeof TaskTransferOpenedData>;
};
export type TaskStarted = { type: 'TaskStarted'; data: Static<typeof TaskStartedData> };
export type TaskSucceeded = { type: 'TaskSucceeded'; data: Static<typeof TaskSucceededData> };
export type TaskFailed = { type: 'TaskFailed'; data: Static<typeof TaskFailedData> };
export type TaskCancelRequested = {
  type: 'TaskCancelRequested';
  data: Static<typeof TaskCancelRequestedData>;
};
export type TaskCancelled = { type: 'TaskCancelled'; data: Static<typeof TaskCancelledData> };

export type TaskEvent =
  | TaskQueued
  | TaskStarted
  | TaskSucceeded
  | TaskFailed
  | TaskCancelRequested
  | TaskCancelled
  | TaskTransferOpened;
