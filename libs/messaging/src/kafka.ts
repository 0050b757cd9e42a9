import type { DollyConfig, KafkaSaslSettings, KafkaTlsSettings } from '@dolly/config';
import { Kafka, type KafkaConfig, logLevel, type LogEntry, type SASLOptions } from 'kafkajs';
// kafkajs's table of the protocol's errors gives their messages, as its log lines carry them.
import { errorCodes } from 'kafkajs/src/protocol/error';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  /** SASL authentication (the broker's principal for this client); none: unauthenticated. */
  sasl?: KafkaSaslSettings;
  /** TLS to the brokers; none: plaintext. */
  tls?: KafkaTlsSettings;
  /** Where kafkajs's own log lines go; they are structured, so they join the app's JSON log. */
  log?: (
    level: 'error' | 'warn' | 'info' | 'debug',
    message: string,
    extra: Record<string, unknown>,
  ) => void;
}

const LEVEL_NAMES = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
  [logLevel.NOTHING]: 'debug',
} as const;

const LIMITED_RETRIES_WARNING = 'Limiting retries for the idempotent producer';

/**
 * Broker answers that say "not yet, ask again": a leader being elected, a coordinator loading or
 * moving, a topic just made. kafkajs logs each failed response as an error before it retries on its
 * own; a broker's first seconds and every leader change produce them. They are kept at debug: if
 * the retries run out, the call fails and Dolly logs that failure where it happens.
 */
const TRANSIENT_ERROR_TYPES = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_FOR_PARTITION',
  'GROUP_LOAD_IN_PROGRESS',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR_FOR_GROUP',
  'NOT_CONTROLLER',
  'OFFSET_NOT_AVAILABLE',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'PREFERRED_LEADER_NOT_AVAILABLE',
  'REBALANCE_IN_PROGRESS',
]);
const TRANSIENT_ERROR_MESSAGES = new Set(
  errorCodes.filter(({ type }) => TRANSIENT_ERROR_TYPES.has(type)).map(({ message }) => message),
);

/** A failed response kafkajs retries itself, for a reason that passes (see TRANSIENT_ERROR_TYPES). */
export function isTransientKafkaLog(message: string, extra: Record<string, unknown>): boolean {
  return (
    message.startsWith('Response ') &&
    typeof extra.error === 'string' &&
    TRANSIENT_ERROR_MESSAGES.has(extra.error)
  );
}

/** Where and how to connect, as the environment configured it (KAFKA_BROKERS, KAFKA_SASL_*, KAFKA_SSL*). */
export function kafkaConnection(
  config: Pick<DollyConfig, 'kafkaBrokers' | 'kafkaSasl' | 'kafkaTls'>,
): Pick<KafkaSettings, 'brokers' | 'sasl' | 'tls'> {
  return { brokers: config.kafkaBrokers, sasl: config.kafkaSasl, tls: config.kafkaTls };
}

export function createKafka(settings: KafkaSettings): Kafka {
  const config: KafkaConfig = {
    clientId: settings.clientId,
    brokers: settings.brokers,
    // KafkaSaslMechanism lists exactly the mechanisms kafkajs takes with a user name and password.
    ...(settings.sasl ? { sasl: { ...settings.sasl } as SASLOptions } : {}),
    ...(settings.tls ? { ssl: tlsOptions(settings.tls) } : {}),
    connectionTimeout: 3000,
    // The outbox relay retries forever on its own terms; kafkajs's own retries stay short.
    retry: { initialRetryTime: 100, retries: 5, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...extra } = log;
        // Our relay limits producer retries on purpose and checks Kafka after any failed send, so
        // kafkajs's warning about limited retries tells nothing actionable.
        if (message.startsWith(LIMITED_RETRIES_WARNING)) return;
        const name = isTransientKafkaLog(message, extra) ? 'debug' : LEVEL_NAMES[level];
        if (settings.log) settings.log(name, `kafkajs: ${message}`, extra);
      },
  };
  return new Kafka(config);
}

function tlsOptions(tls: KafkaTlsSettings): KafkaConfig['ssl'] {
  if (tls.ca === undefined && tls.cert === undefined) return true;
  return {
    ...(tls.ca !== undefined ? { ca: [tls.ca] } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert, key: tls.key } : {}),
  };
}
