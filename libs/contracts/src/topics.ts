import type { StreamType } from './event-catalog';

/**
 * One topic per stream type, keyed by stream id so that one object's events stay in order.
 * A prefix lets several Dolly installations (or test runs) share a broker.
 */
export const EVENT_TOPIC_PARTITIONS = 6;

export function eventTopic(streamType: StreamType, prefix = ''): string {
  return `${prefix}dolly.${streamType}.events`;
}

export const STREAM_TYPES: readonly StreamType[] = [
  'host',
  'datastore',
  'vm',
  'task',
  'worker',
  'pool',
];

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
 * A message on the progress topic (JSON, keyed by task id): how far a worker's attempt of a task
 * got. Not an event: frequent, short-lived (the topic keeps an hour), the newest one wins.
 */
export interface TaskProgressMessage {
  taskId: string;
  attempt: number;
  /** What the worker does now (copy, merge, create...). */
  phase: string;
  doneBytes: number;
  totalBytes: number;
  /** ISO 8601. */
  reportedAt: string;
}
