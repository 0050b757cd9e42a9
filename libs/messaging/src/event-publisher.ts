import { type KafkaEventMessage, type RecordedEvent, toKafkaMessage } from '@dolly/contracts';
import { type Kafka, Partitioners, type Producer } from 'kafkajs';
import { partitionForKey } from './partitioning';
import { readTailEventIds, tailKey } from './partition-tails';
import { partitionCounts } from './topics';

interface Addressed {
  event: RecordedEvent;
  topic: string;
  partition: number;
  message: KafkaEventMessage;
}

/**
 * Publishes recorded events to Kafka: CloudEvents messages keyed by stream id, through an
 * idempotent producer (one request in flight, acks from all replicas), in the order given.
 */
export class EventPublisher {
  private producer: Producer | undefined;
  private readonly partitions = new Map<string, number>();

  constructor(
    private readonly kafka: Kafka,
    private readonly topicOf: (event: RecordedEvent) => string,
    private readonly groupPrefix: string,
  ) {}

  async publish(events: readonly RecordedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const addressed = await this.address(events);
    const producer = await this.connectedProducer();
    const byTopic = new Map<
      string,
      { key: string; value: string; headers: Record<string, string>; partition: number }[]
    >();
    for (const { topic, partition, message } of addressed) {
      const messages = byTopic.get(topic) ?? [];
      messages.push({ ...message, partition });
      byTopic.set(topic, messages);
    }
    await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    });
  }

  /**
   * Of events whose send failed or was cut short, those not in Kafka. Relies on one relay writing
   * at a time: what a failed send wrote is at the end of its partitions.
   */
  async unpublished(events: readonly RecordedEvent[]): Promise<RecordedEvent[]> {
    if (events.length === 0) return [];
    const addressed = await this.address(events);
    const counts = new Map<string, { topic: string; partition: number; count: number }>();
    for (const { topic, partition } of addressed) {
      const key = tailKey(topic, partition);
      const entry = counts.get(key) ?? { topic, partition, count: 0 };
      entry.count += 1;
      counts.set(key, entry);
    }
    const present = await readTailEventIds(this.kafka, [...counts.values()], {
      groupPrefix: this.groupPrefix,
    });
    return addressed
      .filter(
        ({ topic, partition, event }) =>
          !present.get(tailKey(topic, partition))?.has(event.eventId),
      )
      .map(({ event }) => event);
  }

  /** Drops the producer so the next publish starts a fresh producer session. */
  async reset(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    this.partitions.clear();
    await producer?.disconnect().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.reset();
  }

  private async connectedProducer(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        // The murmur2 partitioner (Java's), said explicitly: kafkajs warns when it is left implicit.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      this.producer = producer;
    }
    return this.producer;
  }

  private async address(events: readonly RecordedEvent[]): Promise<Addressed[]> {
    const topics = [...new Set(events.map(this.topicOf))];
    const unknown = topics.filter((topic) => !this.partitions.has(topic));
    if (unknown.length > 0) {
      for (const [topic, count] of await partitionCounts(this.kafka, unknown))
        this.partitions.set(topic, count);
    }
    return events.map((event) => {
      const topic = this.topicOf(event);
      const count = this.partitions.get(topic);
      if (!count) throw new Error(`Topic ${topic} does not exist on the broker`);
      return {
        event,
        topic,
        partition: partitionForKey(topic, event.streamId, count),
        message: toKafkaMessage(event),
      };
    });
  }
}
