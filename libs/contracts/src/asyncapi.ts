import { EVENT_CATALOG } from './event-catalog';
import { ceType, dataSchemaUri } from './cloud-events';
import { DEAD_LETTER_HEADERS, DEAD_LETTER_REASONS } from './dead-letters';
import {
  EVENT_TOPIC_PARTITIONS,
  STREAM_TYPES,
  allEventTopics,
  deadLetterTopic,
  eventTopic,
} from './topics';

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

/** How clients log in to the brokers: the SASL mechanism (kafkajs's names), and whether over TLS. */
export interface AsyncApiKafkaSecurity {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  tls?: boolean;
}

/** Dolly's own brokers (the local one, docker compose): SASL/SCRAM-SHA-512, no TLS. */
export const DOLLY_BROKER_SECURITY: AsyncApiKafkaSecurity = { mechanism: 'scram-sha-512' };

const SECURITY_SCHEME_TYPES = {
  plain: 'plain',
  'scram-sha-256': 'scramSha256',
  'scram-sha-512': 'scramSha512',
} as const;

const SECURITY_SCHEME = 'kafkaPrincipal';

function securityScheme(security: AsyncApiKafkaSecurity, prefix: string): Record<string, unknown> {
  return {
    type: SECURITY_SCHEME_TYPES[security.mechanism],
    description:
      `SASL/${security.mechanism.toUpperCase()}${security.tls ? ' over TLS' : ''} with the user name and password of a Kafka principal; ` +
      "Kafka's own ACLs decide what each principal may do. Dolly's own principal (dolly) reads and writes Dolly's topics: " +
      'only Dolly writes them. An integrator gets a read-only principal from Dolly’s operator: it may read and describe ' +
      `the event topics (${allEventTopics(prefix).join(', ')}) and keep offsets in consumer groups of its own ` +
      '(named integrator.* on Dolly’s own brokers); it cannot produce, and sees no other topic.',
  };
}

const DEAD_LETTER_HEADER_DESCRIPTIONS: Record<keyof typeof DEAD_LETTER_HEADERS, string> = {
  reason: 'Why it was refused: a stable code.',
  detail: 'The particulars, for people (which field, which header, what differs from the store).',
  topic: 'The topic it was consumed from.',
  partition: 'Its partition there (decimal).',
  offset: 'Its offset there (decimal).',
  consumer:
    'The consumer group that refused it (several may refuse one message, each writes a letter).',
  time: 'When it was refused (ISO 8601).',
};

/** A message a consumer refused, as the dead-letter topic holds it. */
const deadLetterMessage = () => ({
  name: 'DeadLetter',
  title: 'A consumed message that a consumer refused',
  summary:
    'The original key, value and headers as they came, with dolly_deadletter_* headers saying where it was found and why.',
  contentType: 'application/octet-stream',
  headers: {
    type: 'object',
    required: Object.values(DEAD_LETTER_HEADERS),
    properties: Object.fromEntries(
      (Object.keys(DEAD_LETTER_HEADERS) as (keyof typeof DEAD_LETTER_HEADERS)[]).map((name) => [
        DEAD_LETTER_HEADERS[name],
        name === 'reason'
          ? {
              type: 'string',
              enum: Object.keys(DEAD_LETTER_REASONS),
              description: `${DEAD_LETTER_HEADER_DESCRIPTIONS.reason} ${Object.entries(
                DEAD_LETTER_REASONS,
              )
                .map(([code, meaning]) => `${code}: ${meaning}.`)
                .join(' ')}`,
            }
          : { type: 'string', description: DEAD_LETTER_HEADER_DESCRIPTIONS[name] },
      ]),
    ),
    additionalProperties: {
      type: 'string',
      description:
        'The original message’s own headers, as they came (any of the names above it had are dropped).',
    },
  },
  payload: {
    description:
      'The original message’s value, byte for byte: not necessarily JSON, and absent when it had none.',
  },
  bindings: {
    kafka: {
      key: {
        type: 'string',
        description: 'The original message’s key, as it came (may be absent).',
      },
    },
  },
});

/**
 * The AsyncAPI 3.0 document of Dolly's topics: every event type and schema version, with its
 * CloudEvents headers, so another service can consume without Dolly's code; and how to log in
 * (`security`: the brokers' SASL mechanism, DOLLY_BROKER_SECURITY unless given; null: none).
 */
export function asyncApiDocument(options: {
  version: string;
  brokers: string[];
  prefix?: string;
  security?: AsyncApiKafkaSecurity | null;
}): Record<string, unknown> {
  const security = options.security === undefined ? DOLLY_BROKER_SECURITY : options.security;
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
  messages.DeadLetter = deadLetterMessage();
  channels.deadLetters = {
    address: deadLetterTopic(options.prefix),
    title: 'dead letters',
    description:
      'Messages the projector and the workers refused (forged, malformed, misaddressed), kept for people and alerts; ' +
      'Dolly never consumes them. One partition: letters read in the order they were written.',
    messages: { DeadLetter: { $ref: '#/components/messages/DeadLetter' } },
    bindings: { kafka: { partitions: 1, topicConfiguration: { 'cleanup.policy': ['delete'] } } },
  };
  operations.consumeDeadLetters = {
    action: 'receive',
    channel: { $ref: '#/channels/deadLetters' },
    summary: 'Consume dead letters (to alert on them, or to look into them).',
    messages: [{ $ref: '#/channels/deadLetters/messages/DeadLetter' }],
  };
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
        {
          host,
          protocol: security?.tls ? 'kafka-secure' : 'kafka',
          protocolVersion: '3.9',
          ...(security
            ? { security: [{ $ref: `#/components/securitySchemes/${SECURITY_SCHEME}` }] }
            : {}),
        },
      ]),
    ),
    channels,
    operations,
    components: {
      messages,
      ...(security
        ? {
            securitySchemes: {
              [SECURITY_SCHEME]: securityScheme(security, options.prefix ?? ''),
            },
          }
        : {}),
    },
  };
}
