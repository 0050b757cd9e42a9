import {
  EVENT_TOPIC_PARTITIONS,
  PROJECTOR_GROUP,
  allEventTopics,
  progressTopic,
} from '@dolly/contracts';
import { type Kafka, Partitioners } from 'kafkajs';
import { deadLetterTopicSpec } from './dead-letters';
import { type TopicSpec, ensureTopics } from './topics';

/** The progress topic: frequent, short-lived messages (kept one hour). */
export const progressTopicSpec = (prefix: string): TopicSpec => ({
  topic: progressTopic(prefix),
  numPartitions: EVENT_TOPIC_PARTITIONS,
  configEntries: [{ name: 'retention.ms', value: '3600000' }],
});

/** Every topic an installation with this prefix uses, as its apps make them. */
export function dollyTopicSpecs(prefix: string): TopicSpec[] {
  return [
    ...allEventTopics(prefix).map((topic) => ({ topic, numPartitions: EVENT_TOPIC_PARTITIONS })),
    progressTopicSpec(prefix),
    deadLetterTopicSpec(prefix),
  ];
}

/**
 * Readies a broker for Dolly's apps before they start, so that a healthy first start logs no
 * error: a fresh broker answers its first seconds with "no leader", "coordinator not available"
 * and "coordinator loading" while it creates and loads its internal topics, and kafkajs logs each
 * of those as an error before it retries. Makes Dolly's topics and waits until every partition has
 * a leader and its offsets can be listed, the group coordinator answers, and an idempotent
 * producer gets its id. `kafka` should log nothing (createKafka without `log`): the answers
 * awaited here are the expected ones.
 */
export async function prepareKafka(
  kafka: Kafka,
  prefix: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Its topics, each partition's leader serving it.
  await ensureTopics(kafka, dollyTopicSpecs(prefix), timeoutMs);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await untilKafkaAnswers(deadline, 'the group coordinator', () =>
      admin.describeGroups([`${prefix}${PROJECTOR_GROUP}`]),
    );
  } finally {
    await admin.disconnect();
  }
  await untilKafkaAnswers(deadline, 'a producer id', async () => {
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    try {
      await producer.connect();
    } finally {
      await producer.disconnect();
    }
  });
}

/**
 * What `attempt` answers once the broker answers it; a broker in its first seconds refuses many
 * requests (no leader yet, coordinator loading) that it serves a moment later.
 */
export async function untilKafkaAnswers<T>(
  deadline: number,
  what: string,
  attempt: () => Promise<T>,
): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`Kafka is not ready: ${what}: ${(error as Error).message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
