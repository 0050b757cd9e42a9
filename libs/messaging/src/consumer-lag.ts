import type { Kafka } from 'kafkajs';

/** Messages a consumer group has not committed yet, over some topics: its lag. */
export async function consumerGroupLag(
  kafka: Kafka,
  groupId: string,
  topics: readonly string[],
): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
    let lag = 0;
    for (const topic of topics) {
      const high = await admin.fetchTopicOffsets(topic);
      const done = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const partition of high) {
        const offset = Number(done.find((d) => d.partition === partition.partition)?.offset ?? -1);
        // -1: nothing committed yet, so everything from the low watermark on is lag.
        lag += Number(partition.high) - (offset < 0 ? Number(partition.low) : offset);
      }
    }
    return lag;
  } finally {
    await admin.disconnect();
  }
}
