import type { DollyConfig, KafkaSaslSettings, KafkaTlsSettings } from '@dolly/config';
import { Kafka, type KafkaConfig, logLevel, type LogEntry, type SASLOptions } from 'kafkajs';

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
        if (settings.log) settings.log(LEVEL_NAMES[level], `kafkajs: ${message}`, extra);
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
