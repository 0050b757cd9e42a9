/**
 * Why a consumer refused a message. Each is a stable code: the dead letter's
 * `dolly_deadletter_reason` header, the `reason` label of `dolly_dead_letters_total`, and what
 * `/health` names.
 */
export const DEAD_LETTER_REASONS = {
  /** Not a Dolly CloudEvent that can be read: headers missing, repeated or invalid against the
   * published header schema, no value, a value that is not JSON, a version beyond any stream's. */
  'EVENT.MALFORMED': 'not a readable Dolly CloudEvent',
  /** ce_type names no type and schema version of the catalog. */
  'EVENT.UNKNOWN_TYPE': 'an event type or schema version Dolly never published',
  /** The data does not validate against the published JSON Schema of its type and version. */
  'EVENT.INVALID_DATA': 'data invalid against the published schema',
  /** Topic, ce_source, ce_subject or key disagree with the type's stream type or with each other. */
  'EVENT.MISADDRESSED': 'on a topic, stream or key its type does not belong to',
  /** The event store holds no event at that stream and version. */
  'EVENT.NOT_IN_STORE': 'no such event in the event store',
  /** The store holds another event at that stream and version, or this one differently. */
  'EVENT.NOT_AS_STORED': 'differs from the event the store holds at that stream and version',
  /** A progress message that is not JSON or fails the TaskProgressMessage schema. */
  'PROGRESS.MALFORMED': 'not a valid progress message',
  /** A progress report dated later than now (plus clock skew): it would hide every genuine one. */
  'PROGRESS.FROM_THE_FUTURE': 'reported later than now',
} as const;

export type DeadLetterReason = keyof typeof DEAD_LETTER_REASONS;

/** What a check says about a message it refuses: a reason code and, for people, the particulars. */
export interface Refusal {
  reason: DeadLetterReason;
  detail: string;
}

/**
 * Headers a dead letter carries besides the original ones (all text). An original header of the
 * same name is dropped, so a forger cannot pass as a dead letter of another origin.
 */
export const DEAD_LETTER_HEADERS = {
  reason: 'dolly_deadletter_reason',
  detail: 'dolly_deadletter_detail',
  topic: 'dolly_deadletter_topic',
  partition: 'dolly_deadletter_partition',
  offset: 'dolly_deadletter_offset',
  /** The consumer group that refused it (several may refuse the same message). */
  consumer: 'dolly_deadletter_consumer',
  /** ISO 8601: when it was refused. */
  time: 'dolly_deadletter_time',
} as const;

export const DEAD_LETTER_HEADER_PREFIX = 'dolly_deadletter_';
