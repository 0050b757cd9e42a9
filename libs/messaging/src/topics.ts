import type { Kafka } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  configEntries?: { name: string; value: string }[];
}

/**
 * Creates the topics that do not exist yet (existing ones are left as they are) and waits until
 * every partition has a leader that serves it. Apps starting together race to create the same topics: losing
 * that race is not an error.
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: readonly TopicSpec[],
  timeoutMs = 30_000,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((spec) => !existing.has(spec.topic));
    if (missing.length > 0) {
      try {
        await admin.createTopics({
          waitForLeaders: false,
          topics: missing.map((spec) => ({ ...spec, replicationFactor: -1 })),
        });
      } catch {
        // Another process creating the same topics right now wins the race: waiting below tells
        // whether the topics came to be, whoever made them.
      }
    }
    const names = topics.map((spec) => spec.topic);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const { topics: metadata } = await admin.fetchTopicMetadata({ topics: names });
        if (
          metadata.every(
            (topic) => topic.partitions.length > 0 && topic.partitions.every((p) => p.leader >= 0),
          )
        ) {
          // A leader named in the metadata may not serve its partition yet ("not the leader"):
          // listing the offsets asks every partition's leader itself.
          for (const name of names) await admin.fetchTopicOffsets(name);
          return;
        }
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline)
        throw new Error(`Topics ${names.join(', ')} have no leaders after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Partition counts as the broker knows them (a topic made elsewhere may differ from ours). */
export async function partitionCounts(
  kafka: Kafka,
  topics: readonly string[],
): Promise<Map<string, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics: metadata } = await admin.fetchTopicMetadata({ topics: [...topics] });
    return new Map(metadata.map((topic) => [topic.name, topic.partitions.length]));
  } finally {
    await admin.disconnect();
  }
}
