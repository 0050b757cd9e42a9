import { type Static, Type } from '@sinclair/typebox';
import { STREAM_KINDS } from '@dolly/domain';
import type { StreamType } from './event-catalog';

/**
 * One topic per stream type, keyed by stream id so that one object's events stay in order.
 * A prefix lets several Dolly installations (or test runs) share a broker.
 */
export const EVENT_TOPIC_PARTITIONS = 6;

export function eventTopic(streamType: StreamType, prefix = ''): string {
  return `${prefix}dolly.${streamType}.events`;
}

export const STREAM_TYPES: readonly StreamType[] = STREAM_KINDS;

export function allEventTopics(prefix = ''): string[] {
  return STREAM_TYPES.map((streamType) => eventTopic(streamType, prefix));
}

/** The projector's consumer group (prefixed like the topics). */
export const PROJECTOR_GROUP = 'dolly-projector';

/** Workers take their jobs from the task topic: TaskQueued carries the job and who may do it. */
export const jobsTopic = (prefix = '') => eventTopic('task', prefix);

/** Progress of running tasks: frequent, ephemeral, not events (kept 1 hour). */
export const progressTopic = (prefix = '') => `${prefix}dolly.task.progress`;

/** The consumer group of the workers that reach the same datastores (their group name). */
export const workerGroupId = (prefix: string, group: string) => `${prefix}dolly-${group}`;

/** A worker's own consumer group: the jobs only it can do (a running VM's disks are in its daemon). */
export const workerOwnGroupId = (prefix: string, workerId: string) =>
  `${prefix}dolly-worker-${workerId}`;

/**
 * A worker's group for watching the tasks it runs: alone in it, it reads every partition of the
 * task topic (a cancel request, a newer attempt), whichever group member holds the task's job.
 */
export const workerWatchGroupId = (prefix: string, workerId: string) =>
  `${prefix}dolly-watch-${workerId}`;

/**
 * Where consumers put the messages they refuse (forged, malformed, misaddressed): the original
 * key, value and headers, with `dolly_deadletter_*` headers saying where it came from and why
 * (`DEAD_LETTER_HEADERS`). Never consumed by Dolly itself: it is for people and alerts.
 */
export const deadLetterTopic = (prefix = '') => `${prefix}dolly.deadletter`;

const Uuid = (description: string) => Type.String({ format: 'uuid', description });
const Bytes = (description: string) =>
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description });

/**
 * A message on the progress topic (JSON, keyed by task id): how far a worker's attempt of a task
 * got. Not an event: frequent, short-lived (the topic keeps an hour), the newest one wins.
 */
export const TaskProgressMessage = Type.Object(
  {
    taskId: Uuid('The task.'),
    attempt: Type.Integer({ minimum: 1, description: 'The attempt reporting.' }),
    phase: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'What the worker does now (copy, merge, create...).',
    }),
    doneBytes: Bytes('Bytes done so far.'),
    totalBytes: Bytes('Bytes to do in all.'),
    reportedAt: Type.String({ format: 'date-time', description: 'ISO 8601.' }),
  },
  {
    additionalProperties: false,
    description: "How far a worker's attempt of a task got (progress topic, keyed by task id).",
  },
);
export type TaskProgressMessage = Static<typeof TaskProgressMessage>;
