import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RecordedEvent, fromKafkaMessage } from '@dolly/contracts';
import { createKafka } from '@dolly/messaging';
import type { IHeaders, Kafka } from 'kafkajs';
import { ensureKafkaRunning, stopKafka } from '../../../tools/kafka/local-kafka';

export function testKafka(brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092'): Kafka {
  return createKafka({ brokers: brokers.split(','), clientId: 'dolly-test' });
}

export const uniquePrefix = () => `t${randomBytes(4).toString('hex')}.`;

/** Two free neighbouring ports (broker and controller). */
async function freePortPair(): Promise<number> {
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

/** A message as a consumer got it, with where it was. */
export interface ConsumedKafkaMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

/**
 * Reads every message of some topics from the beginning (as a group of its own), until `enough`
 * says the messages so far are enough; then reads on for `lingerMs`, for what should not come.
 */
export async function readMessages(
  kafka: Kafka,
  topics: string[],
  enough: (messages: readonly ConsumedKafkaMessage[]) => boolean,
  { timeoutMs = 30_000, lingerMs = 0 }: { timeoutMs?: number; lingerMs?: number } = {},
): Promise<ConsumedKafkaMessage[]> {
  const consumer = kafka.consumer({
    groupId: `dolly-test-reader-${randomBytes(4).toString('hex')}`,
    maxWaitTimeInMs: 100,
  });
  const messages: ConsumedKafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Not enough within ${timeoutMs} ms: ${messages.length} messages`)),
        timeoutMs,
      );
      void consumer.run({
        eachMessage: async ({ topic, partition, message }) => {
          const { key, value, offset } = message;
          messages.push({ topic, partition, offset, key, value, headers: message.headers ?? {} });
          if (enough(messages)) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    if (lingerMs > 0) await new Promise((resolve) => setTimeout(resolve, lingerMs));
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

/** Reads every message of some topics from the beginning, until `count` have arrived. */
export async function consumeEvents(
  kafka: Kafka,
  topics: string[],
  count: number,
  timeoutMs = 30_000,
): Promise<RecordedEvent[]> {
  // Anything beyond count is a duplicate: give it a moment to show up.
  const messages = await readMessages(kafka, topics, (so) => so.length >= count, {
    timeoutMs,
    lingerMs: 1000,
  });
  return messages.map(fromKafkaMessage);
}
