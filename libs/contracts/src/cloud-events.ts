import type { IHeaders } from 'kafkajs';
import { type StreamType, currentSchemaVersion, upcastToCurrent } from './event-catalog';
import type { RecordedEvent } from './recorded-event';

/**
 * Events travel on Kafka in CloudEvents 1.0 binary mode: the value is the event data as JSON, the
 * context attributes are `ce_` headers. Dolly's own attributes are CloudEvents extensions
 * (lower-case letters only, as the spec requires).
 */
export const CE_SOURCE_PREFIX = '/dolly/';

export function ceType(type: string, schemaVersion: number): string {
  return `io.dolly.${type}.v${schemaVersion}`;
}

export function dataSchemaUri(type: string, schemaVersion: number): string {
  return `urn:dolly:schema:event:${type}:${schemaVersion}`;
}

const CE_TYPE = /^io\.dolly\.([A-Za-z]+)\.v(\d+)$/;

/** The event type and schema version a ce_type names (`io.dolly.VmCreated.v2`), if it is Dolly's form. */
export function parseCeType(text: string): { type: string; schemaVersion: number } | undefined {
  const match = CE_TYPE.exec(text);
  return match ? { type: match[1], schemaVersion: Number(match[2]) } : undefined;
}

export interface KafkaEventMessage {
  key: string;
  value: string;
  headers: Record<string, string>;
}

export function toKafkaMessage(event: RecordedEvent): KafkaEventMessage {
  const { metadata } = event;
  const headers: Record<string, string> = {
    ce_specversion: '1.0',
    ce_id: event.eventId,
    ce_type: ceType(event.type, event.schemaVersion),
    ce_source: `${CE_SOURCE_PREFIX}${event.streamType}`,
    ce_subject: event.streamId,
    ce_time: event.occurredAt,
    ce_dataschema: dataSchemaUri(event.type, event.schemaVersion),
    'content-type': 'application/json',
    ce_dollystreamversion: String(event.streamVersion),
    ce_dollyposition: event.globalPosition,
    ce_dollycorrelationid: metadata.correlationId,
    ce_dollyactor: metadata.actor.id,
    ce_dollyactorrole: metadata.actor.role,
  };
  if (metadata.causationId) headers.ce_dollycausationid = metadata.causationId;
  if (metadata.taskId) headers.ce_dollytaskid = metadata.taskId;
  if (metadata.command) headers.ce_dollycommand = metadata.command;
  return { key: event.streamId, value: JSON.stringify(event.data), headers };
}

/** How many bytes a message takes on the wire, near enough: key, value and headers. */
export function kafkaMessageBytes(message: KafkaEventMessage): number {
  let total = Buffer.byteLength(message.key) + Buffer.byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers))
    total += Buffer.byteLength(name) + Buffer.byteLength(value);
  return total;
}

export class MalformedEventMessageError extends Error {}

function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}

function required(headers: IHeaders | undefined, name: string): string {
  const value = headerText(headers, name);
  if (value === undefined)
    throw new MalformedEventMessageError(`Kafka message lacks header ${name}`);
  return value;
}

/** Reads a message back into a recorded event, upcast to the current version of its type. */
export function fromKafkaMessage(message: {
  value: Buffer | null;
  headers?: IHeaders;
}): RecordedEvent {
  const { headers } = message;
  const typeMatch = CE_TYPE.exec(required(headers, 'ce_type'));
  if (!typeMatch)
    throw new MalformedEventMessageError(
      `ce_type ${headerText(headers, 'ce_type')} is not a Dolly event type`,
    );
  const [, type, version] = typeMatch;
  const source = required(headers, 'ce_source');
  if (!source.startsWith(CE_SOURCE_PREFIX))
    throw new MalformedEventMessageError(`ce_source ${source} is not Dolly's`);
  if (!message.value) throw new MalformedEventMessageError('Kafka message has no value');
  const storedVersion = Number(version);
  return {
    eventId: required(headers, 'ce_id'),
    type,
    schemaVersion: currentSchemaVersion(type),
    streamId: required(headers, 'ce_subject'),
    streamType: source.slice(CE_SOURCE_PREFIX.length) as StreamType,
    streamVersion: Number(required(headers, 'ce_dollystreamversion')),
    globalPosition: required(headers, 'ce_dollyposition'),
    occurredAt: required(headers, 'ce_time'),
    data: upcastToCurrent(type, storedVersion, JSON.parse(message.value.toString('utf8'))),
    metadata: {
      correlationId: required(headers, 'ce_dollycorrelationid'),
      causationId: headerText(headers, 'ce_dollycausationid') ?? null,
      actor: {
        id: required(headers, 'ce_dollyactor'),
        role: required(headers, 'ce_dollyactorrole'),
      },
      taskId: headerText(headers, 'ce_dollytaskid') ?? null,
      command: headerText(headers, 'ce_dollycommand') ?? null,
    },
  };
}
