import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RecordedEvent, fromKafkaMessage } from '@dolly/contracts';
import { loadConfig } from '@dolly/config';
import { createKafka, kafkaConnection } from '@dolly/messaging';
import type { Kafka } from 'kafkajs';
import {
  ensureKafkaRunning,
  localKafkaClientEnv,
  stopKafka,
} from '../../../tools/kafka/local-kafka';

/**
 * A client as Dolly's apps make one from the environment (KAFKA_BROKERS, KAFKA_SASL_*): the
 * suites' global setup puts the local broker and Dolly's principal there; an IsolatedKafka's
 * `env` is another broker's.
 */
export function testKafka(env: NodeJS.ProcessEnv = process.env): Kafka {
  return createKafka({ ...kafkaConnection(loadConfig(env)), clientId: 'dolly-test' });
}

export const uniquePrefix = () => `t${randomBytes(4).toString('hex')}.`;

/** Two free neighbouring ports (broker and controller). */
export async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port: found } = server.address() as { port: number };
        server.close(() => resolve(found));
      });
      server.on('error', reject);
    });
    if (port < 65000) {
      const next = await new Promise<boolean>((resolve) => {
        const probe = createServer().listen(port + 1, '127.0.0.1', () =>
          probe.close(() => resolve(true)),
        );
        probe.on('error', () => resolve(false));
      });
      if (next) return port;
    }
  }
}

/**
 * A broker of the test's own, for tests that stop Kafka mid-run: stopping the shared one would
 * break the test files running beside it.
 */
export class IsolatedKafka {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<IsolatedKafka> {
    const kafka = new IsolatedKafka(
      mkdtempSync(join(tmpdir(), 'dolly-kafka-')),
      await freePortPair(),
    );
    await kafka.start();
    return kafka;
  }

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** KAFKA_BROKERS and Dolly's principal on this broker: for DollyStack.start and testKafka. */
  get env(): Record<string, string> {
    return localKafkaClientEnv({ dir: this.dir, port: this.port });
  }

  async start(): Promise<void> {
    await ensureKafkaRunning({ dir: this.dir, port: this.port });
  }

  async stop(): Promise<void> {
    await stopKafka({ dir: this.dir, port: this.port });
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Reads every message of some topics from the beginning, until `count` have arrived. */
export async function consumeEvents(
  kafka: Kafka,
  topics: string[],
  count: number,
  timeoutMs = 30_000,
): Promise<RecordedEvent[]> {
  const consumer = kafka.consumer({
    groupId: `dolly-test-reader-${randomBytes(4).toString('hex')}`,
    maxWaitTimeInMs: 100,
  });
  const events: RecordedEvent[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Only ${events.length} of ${count} events arrived`)),
        timeoutMs,
      );
      void consumer.run({
        eachMessage: async ({ message }) => {
          events.push(fromKafkaMessage(message));
          if (events.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    // Anything beyond count is a duplicate: give it a moment to show up.
    await new Promise((resolve) => setTimeout(resolve, 1000));
  } finally {
    await consumer.disconnect();
  }
  return events;
}
