import { EVENT_CATALOG } from './event-catalog';
import { ceType, dataSchemaUri } from './cloud-events';
import { EVENT_TOPIC_PARTITIONS, STREAM_TYPES, eventTopic } from './topics';

/** A schema as published: plain JSON, without TypeBox's symbols. */
export function publishedSchema(schema: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}

export function eventSchemaDocument(
  type: string,
  version: number,
): Record<string, unknown> | undefined {
  const entry = EVENT_CATALOG.find((e) => e.type === type);
  const schemaVersion = entry?.versions.find((v) => v.version === version);
  if (!entry || !schemaVersion) return undefined;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: dataSchemaUri(type, version),
    title: `${type} v${version}`,
    ...publishedSchema(schemaVersion.schema),
  };
}

/** The CloudEvents headers of one event type and schema version, as JSON Schema (Kafka headers are text). */
export const cloudEventsHeaders = (type: string, version: number) => ({
  type: 'object',
  required: [
    'ce_specversion',
    'ce_id',
    'ce_type',
    'ce_source',
    'ce_subject',
    'ce_time',
    'content-type',
  ],
  properties: {
    ce_specversion: { type: 'string', const: '1.0', description: 'CloudEvents spec version.' },
    ce_id: {
      type: 'string',
      format: 'uuid',
      description: 'Event id: unique; consumers deduplicate by it.',
    },
    ce_type: {
      type: 'string',
      const: ceType(type, version),
      description: 'Event type and schema version.',
    },
    ce_source: { type: 'string', pattern: '^/dolly/', description: '/dolly/<stream type>.' },
    ce_subject: { type: 'string', description: 'Stream id (vm-<uuid>...), also the Kafka key.' },
    ce_time: { type: 'string', format: 'date-time', description: 'When the change was decided.' },
    ce_dataschema: { type: 'string', const: dataSchemaUri(type, version) },
    'content-type': { type: 'string', const: 'application/json' },
    ce_dollystreamversion: {
      type: 'string',
      pattern: '^[1-9][0-9]*$',
      description: "Position in the object's own history (1, 2, ...); gap-free.",
    },
    ce_dollyposition: {
      type: 'string',
      pattern: '^[0-9]+$',
      description: "Position in Dolly's store.",
    },
    ce_dollycorrelationid: {
      type: 'string',
      format: 'uuid',
      description: 'Shared by everything one request caused.',
    },
    ce_dollycausationid: { type: 'string', description: 'The event that caused this one, if any.' },
    ce_dollyactor: { type: 'string', description: 'Who asked for the change.' },
    ce_dollyactorrole: {
      type: 'string',
      description: 'Their role: admin, operator, host-client...',
    },
    ce_dollytaskid: {
      type: 'string',
      format: 'uuid',
      description: 'The task an operator watches for it.',
    },
    ce_dollycommand: { type: 'string', description: 'The command that was decided.' },
  },
});

/**
 * The AsyncAPI 3.0 document of Dolly's topics: every event type and schema version, with its
 * CloudEvents headers, so another service can consume without Dolly's code.
 */
export function asyncApiDocument(options: {
  version: string;
  brokers: string[];
  prefix?: string;
}): Record<string, unknown> {
  const messages: Record<string, unknown> = {};
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  for (const entry of EVENT_CATALOG) {
    for (const version of entry.versions) {
      messages[`${entry.type}.v${version.version}`] = {
        name: entry.type,
        title: `${entry.type} (schema v${version.version}, since Dolly ${version.since})`,
        summary: entry.summary,
        contentType: 'application/json',
        headers: cloudEventsHeaders(entry.type, version.version),
        payload: eventSchemaDocument(entry.type, version.version),
        bindings: {
          kafka: {
            key: {
              type: 'string',
              description: 'Stream id: one object’s events share a partition, in order.',
            },
          },
        },
      };
    }
  }
  for (const streamType of STREAM_TYPES) {
    const channelId = `${streamType}Events`;
    const channelMessages = Object.fromEntries(
      EVENT_CATALOG.filter((entry) => entry.streamType === streamType).flatMap((entry) =>
        entry.versions.map((v) => [
          `${entry.type}.v${v.version}`,
          { $ref: `#/components/messages/${entry.type}.v${v.version}` },
        ]),
      ),
    );
    channels[channelId] = {
      address: eventTopic(streamType, options.prefix),
      title: `${streamType} events`,
      description: `Every event of every ${streamType}, keyed by stream id; ordered per key.`,
      messages: channelMessages,
      bindings: {
        kafka: {
          partitions: EVENT_TOPIC_PARTITIONS,
          topicConfiguration: { 'cleanup.policy': ['delete'] },
        },
      },
    };
    operations[`consume${streamType[0].toUpperCase()}${streamType.slice(1)}Events`] = {
      action: 'receive',
      channel: { $ref: `#/channels/${channelId}` },
      summary: `Consume ${streamType} events.`,
      messages: Object.keys(channelMessages).map((id) => ({
        $ref: `#/channels/${channelId}/messages/${id}`,
      })),
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Dolly events',
      version: options.version,
      description:
        'Events Dolly publishes to Kafka in CloudEvents 1.0 binary mode: the message value is the event data (JSON), ' +
        'the context attributes are ce_ headers. A published schema version never changes; a change is a new version.',
    },
    defaultContentType: 'application/json',
    servers: Object.fromEntries(
      options.brokers.map((host, i) => [
        `broker${i}`,
        { host, protocol: 'kafka', protocolVersion: '3.9' },
      ]),
    ),
    channels,
    operations,
    components: { messages },
  };
}
