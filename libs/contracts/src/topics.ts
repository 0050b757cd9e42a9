import type { StreamType } from './event-catalog';

/**
 * One topic per stream type, keyed by stream id so that one object's events stay in order.
 * A prefix lets several Dolly installations (or test runs) share a broker.
 */
export const EVENT_TOPIC_PARTITIONS = 6;

export function eventTopic(streamType: StreamType, prefix = ''): string {
  return `${prefix}dolly.${streamType}.events`;
}

export const STREAM_TYPES: readonly StreamType[] = ['host', 'datastore', 'vm'];

export function allEventTopics(prefix = ''): string[] {
  return STREAM_TYPES.map((streamType) => eventTopic(streamType, prefix));
}

/** The projector's consumer group (prefixed like the topics). */
export const PROJECTOR_GROUP = 'dolly-projector';
