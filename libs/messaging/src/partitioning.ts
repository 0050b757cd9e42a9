import { Partitioners } from 'kafkajs';

const javaCompatible = Partitioners.DefaultPartitioner();

/**
 * The partition a key lands on, as Kafka's Java client would choose it (murmur2). The relay picks
 * partitions itself so that it knows where to look when it must check what a failed send wrote.
 */
export function partitionForKey(topic: string, key: string, partitionCount: number): number {
  return javaCompatible({
    topic,
    partitionMetadata: Array.from({ length: partitionCount }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    })),
    message: { key, value: null },
  });
}
