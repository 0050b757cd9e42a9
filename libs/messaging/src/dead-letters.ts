import {
  DEAD_LETTER_HEADERS,
  DEAD_LETTER_HEADER_PREFIX,
  type DeadLetterReason,
  deadLetterTopic,
} from '@dolly/contracts';
import { type IHeaders, type Kafka, type Message, Partitioners, type Producer } from 'kafkajs';
import type { TopicSpec } from './topics';

/** A message a consumer refused, where it found it, and why. */
export interface DeadLetter {
  topic: string;
  partition: number;
  offset: string;
  message: { key: Buffer | null; value: Buffer | null; headers?: IHeaders };
  reason: DeadLetterReason;
  detail: string;
}

/**
 * The dead letter's Kafka message: the original key, value and headers as they came (bytes), with
 * `dolly_deadletter_*` headers added. Original headers of those names are dropped: a forger
 * cannot make a letter look as if it came from elsewhere.
 */
export function deadLetterMessage(letter: DeadLetter, consumer: string, at: Date): Message {
  const original = Object.entries(letter.message.headers ?? {}).filter(
    ([name, value]) => value !== undefined && !name.startsWith(DEAD_LETTER_HEADER_PREFIX),
  );
  return {
    key: letter.message.key,
    value: letter.message.value,
    headers: {
      ...Object.fromEntries(original),
      [DEAD_LETTER_HEADERS.reason]: letter.reason,
      [DEAD_LETTER_HEADERS.detail]: letter.detail,
      [DEAD_LETTER_HEADERS.topic]: letter.topic,
      [DEAD_LETTER_HEADERS.partition]: String(letter.partition),
      [DEAD_LETTER_HEADERS.offset]: letter.offset,
      [DEAD_LETTER_HEADERS.consumer]: consumer,
      [DEAD_LETTER_HEADERS.time]: at.toISOString(),
    },
  };
}

/**
 * Room for the largest message the broker accepts (1 MiB by default) plus the letter's own
 * headers: a letter the topic refused would fail its consumer's batch again and again.
 */
const DEAD_LETTER_MAX_BYTES = 2 * 1024 * 1024;

/** The dead-letter topic: one partition, so letters read in the order they were written. */
export const deadLetterTopicSpec = (prefix: string): TopicSpec => ({
  topic: deadLetterTopic(prefix),
  numPartitions: 1,
  configEntries: [{ name: 'max.message.bytes', value: String(DEAD_LETTER_MAX_BYTES) }],
});

/**
 * Writes dead letters with acks from all replicas, before the consumer commits past the
 * originals: a crash in between writes a letter twice, never loses one.
 */
export class DeadLetterPublisher {
  private producer: Promise<Producer> | undefined;

  constructor(
    private readonly kafka: Kafka,
    private readonly prefix: string,
  ) {}

  async publish(letters: readonly DeadLetter[], consumer: string, at = new Date()): Promise<void> {
    if (letters.length === 0) return;
    const producer = await this.connected();
    await producer.send({
      topic: deadLetterTopic(this.prefix),
      acks: -1,
      messages: letters.map((letter) => deadLetterMessage(letter, consumer, at)),
    });
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await (await producer?.catch(() => undefined))?.disconnect().catch(() => undefined);
  }

  private connected(): Promise<Producer> {
    this.producer ??= (async () => {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // The murmur2 partitioner (Java's), said explicitly: kafkajs warns when it is left implicit.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      return producer;
    })().catch((error: Error) => {
      this.producer = undefined;
      throw error;
    });
    return this.producer;
  }
}
