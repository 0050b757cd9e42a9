import { isDeepStrictEqual } from 'node:util';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { IHeaders } from 'kafkajs';
import { cloudEventsHeaders, eventSchemaDocument } from './asyncapi';
import { CE_SOURCE_PREFIX, fromKafkaMessage, parseCeType, toKafkaMessage } from './cloud-events';
import type { DeadLetterReason, Refusal } from './dead-letters';
import { streamIdOf } from '@dolly/domain';
import { EVENT_CATALOG, type StreamType } from './event-catalog';
import type { RecordedEvent } from './recorded-event';
import { TaskProgressMessage, eventTopic } from './topics';

/**
 * What consumers check before they act on a Kafka message: that it is what Dolly publishes, by the
 * published contracts (the CloudEvents header schema and the JSON Schema of the event's type and
 * version, both as in the AsyncAPI document), and, for events, that it is the event the store
 * holds. Pure: the store's events come in as arguments.
 */
export interface ConsumedMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

export type Checked<T> = { ok: true; value: T } | ({ ok: false } & Refusal);

/** How long a detail may grow: it travels as a header and shows in /health (and quotes the sender). */
const MAX_DETAIL = 1_000;

const refuse = (reason: DeadLetterReason, detail: string): Checked<never> => ({
  ok: false,
  reason,
  detail: detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL)}...` : detail,
});

/** Every violation, not the first: ajv with allErrors, formats as the published schemas use them. */
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);

const eventValidators = new Map<string, { headers: ValidateFunction; data: ValidateFunction }>();

/** The validators of one catalogued type and version, compiled once; undefined for anything else. */
function validatorsOf(type: string, schemaVersion: number) {
  const key = `${type}.v${schemaVersion}`;
  const known = eventValidators.get(key);
  if (known) return known;
  const document = eventSchemaDocument(type, schemaVersion);
  if (!document) return undefined;
  const compiled = {
    headers: ajv.compile(cloudEventsHeaders(type, schemaVersion)),
    data: ajv.compile(document),
  };
  eventValidators.set(key, compiled);
  return compiled;
}

const validateProgress = ajv.compile(JSON.parse(JSON.stringify(TaskProgressMessage)) as object);

function described(errors: ErrorObject[] | null | undefined, root: string): string {
  return (errors ?? [])
    .map((error) => {
      const at = `${root}${error.instancePath}`;
      const extra =
        error.keyword === 'additionalProperties'
          ? ` (${String(error.params.additionalProperty)})`
          : '';
      return `${at || '/'} ${error.message ?? 'is invalid'}${extra}`;
    })
    .join('; ');
}

/** A message's value as JSON, or the refusal (for the reason given) when it has none or is not JSON. */
function jsonValue(message: ConsumedMessage, malformed: DeadLetterReason): Checked<unknown> {
  if (!message.value) return refuse(malformed, 'no value');
  try {
    return { ok: true, value: JSON.parse(message.value.toString('utf8')) as unknown };
  } catch (error) {
    return refuse(malformed, `value is not JSON: ${(error as Error).message}`);
  }
}

/** Kafka headers as text, one value each: a header given twice is ambiguous, so refused. */
function textHeaders(headers: IHeaders | undefined): Checked<Record<string, string>> {
  // No prototype: a header named __proto__ is a header like any other.
  const text = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    if (Array.isArray(value) && value.length !== 1)
      return refuse('EVENT.MALFORMED', `header ${name} appears ${value.length} times`);
    text[name] = (Array.isArray(value) ? value[0] : value).toString();
  }
  return { ok: true, value: text };
}

/** Headers the CloudEvents schema leaves optional but every event Dolly publishes carries. */
const DOLLY_HEADERS = [
  'ce_dollystreamversion',
  'ce_dollyposition',
  'ce_dollycorrelationid',
  'ce_dollyactor',
  'ce_dollyactorrole',
] as const;

/** Stream versions are PostgreSQL integers: anything larger names no stored event. */
const MAX_STREAM_VERSION = 2 ** 31 - 1;

/**
 * Reads a message of an event topic into the event it claims to be (upcast to its type's current
 * version), or says why it is not a Dolly event that belongs on this topic. Says nothing yet about
 * whether the store holds it: see `storeDisagreement`.
 */
export function readEventMessage(
  message: ConsumedMessage,
  topic: string,
  prefix: string,
): Checked<RecordedEvent> {
  const read = textHeaders(message.headers);
  if (!read.ok) return read;
  const headers = read.value;
  if (headers.ce_type === undefined) return refuse('EVENT.MALFORMED', 'no ce_type header');
  const named = parseCeType(headers.ce_type);
  const validators = named && validatorsOf(named.type, named.schemaVersion);
  if (!named || !validators)
    return refuse('EVENT.UNKNOWN_TYPE', `ce_type ${headers.ce_type} is not a published event type`);
  if (!validators.headers(headers))
    return refuse('EVENT.MALFORMED', described(validators.headers.errors, 'header '));
  const missing = DOLLY_HEADERS.filter((name) => headers[name] === undefined);
  if (missing.length > 0)
    return refuse('EVENT.MALFORMED', `missing header${missing.length > 1 ? 's' : ''} ${missing}`);
  if (Number(headers.ce_dollystreamversion) > MAX_STREAM_VERSION)
    return refuse(
      'EVENT.MALFORMED',
      `stream version ${headers.ce_dollystreamversion} is too large`,
    );

  const { streamType } = EVENT_CATALOG.find((entry) => entry.type === named.type)!;
  const misplaced = [
    headers.ce_source !== `${CE_SOURCE_PREFIX}${streamType}` && `ce_source ${headers.ce_source}`,
    topic !== eventTopic(streamType, prefix) && `topic ${topic}`,
    !streamIdPattern(streamType).test(headers.ce_subject) && `ce_subject ${headers.ce_subject}`,
    message.key?.toString() !== headers.ce_subject && `key ${message.key?.toString() ?? '(none)'}`,
  ].filter(Boolean);
  if (misplaced.length > 0)
    return refuse(
      'EVENT.MISADDRESSED',
      `${named.type} belongs to ${streamType} streams on ${eventTopic(streamType, prefix)}, keyed by ce_subject; got ${misplaced.join(', ')}`,
    );

  const parsed = jsonValue(message, 'EVENT.MALFORMED');
  if (!parsed.ok) return parsed;
  const data = parsed.value;
  if (!validators.data(data))
    return refuse('EVENT.INVALID_DATA', described(validators.data.errors, 'data'));
  return { ok: true, value: fromKafkaMessage(message) };
}

/** A stream id of the type (`vm-<id>`) whose id has no control characters. */
const streamIdPattern = (streamType: StreamType) =>
  new RegExp(`^${streamIdOf({ kind: streamType, id: '' })}[^\\u0000-\\u001f\\u007f]{1,200}$`, 'u');

/** An event as a consumer reads it back from what the relay publishes for it. */
function asPublished(event: RecordedEvent): RecordedEvent {
  const { value, headers } = toKafkaMessage(event);
  return fromKafkaMessage({
    value: Buffer.from(value),
    headers: Object.fromEntries(Object.entries(headers).map(([n, v]) => [n, Buffer.from(v)])),
  });
}

/**
 * Whether a received event is the one the store holds at its stream and version, by everything a
 * message carries: id, position, type, time, data and metadata. The id and position alone would
 * not do: a copy of a genuine event with other data or another actor would pass, and whichever
 * of the two came first would be applied. Both sides are compared as read from Kafka (upcast to
 * the current version), so an event published under an earlier schema version still agrees.
 */
export function storeDisagreement(
  received: RecordedEvent,
  stored: RecordedEvent | undefined,
): Refusal | null {
  if (!stored)
    return {
      reason: 'EVENT.NOT_IN_STORE',
      detail: `the store has no event at ${received.streamId} version ${received.streamVersion}`,
    };
  const expected = asPublished(stored);
  const differing = (Object.keys(expected) as (keyof RecordedEvent)[]).filter(
    (field) => !isDeepStrictEqual(received[field], expected[field]),
  );
  if (differing.length === 0) return null;
  return {
    reason: 'EVENT.NOT_AS_STORED',
    detail: `${received.streamId} version ${received.streamVersion} differs from the stored event in ${differing.join(', ')}`,
  };
}

/** A progress report may be dated this much after the consumer's clock (clocks drift). */
export const PROGRESS_CLOCK_SKEW_MS = 60_000;

/** Reads a progress message, or says why it is not one (or one that would hide all later ones). */
export function readProgressMessage(
  message: ConsumedMessage,
  now: Date,
): Checked<TaskProgressMessage> {
  const parsed = jsonValue(message, 'PROGRESS.MALFORMED');
  if (!parsed.ok) return parsed;
  const progress = parsed.value;
  if (!validateProgress(progress))
    return refuse('PROGRESS.MALFORMED', described(validateProgress.errors, ''));
  const report = progress as TaskProgressMessage;
  if (Date.parse(report.reportedAt) > now.getTime() + PROGRESS_CLOCK_SKEW_MS)
    return refuse(
      'PROGRESS.FROM_THE_FUTURE',
      `reportedAt ${report.reportedAt} is after ${now.toISOString()}`,
    );
  return { ok: true, value: report };
}
