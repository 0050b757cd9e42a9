import { Kafka, type KafkaConfig, logLevel, type LogEntry } from 'kafkajs';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
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

export function createKafka(settings: KafkaSettings): Kafka {
  const config: KafkaConfig = {
    clientId: settings.clientId,
    brokers: settings.brokers,
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
