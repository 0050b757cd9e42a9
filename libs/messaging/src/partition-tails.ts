import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { within } from './within';

export interface TailRequest {
  topic: string;
  partition: number;
  /** How many of the last messages to read. */
  count: number;
}

const tailKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * Reads the `ce_id` headers of the last messages of some partitions. The outbox relay uses it after
 * a failed or interrupted send, to learn which of the events it tried were written after all.
 *
 * kafkajs reads only as a group member, so this joins a throw-away group, seeks, reads, and
 * deletes the group again.
 */
export async function readTailEventIds(
  kafka: Kafka,
  requests: readonly TailRequest[],
  options: { groupPrefix: string; timeoutMs?: number },
): Promise<Map<string, Set<string>>> {
  const found = new Map<string, Set<string>>();
  const wanted = new Map<
    string,
    { topic: string; partition: number; from: number; last: number }
  >();
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const topic of new Set(requests.map((request) => request.topic))) {
      const offsets = await admin.fetchTopicOffsets(topic);
      for (const request of requests.filter((r) => r.topic === topic)) {
        const key = tailKey(topic, request.partition);
        found.set(key, new Set());
        const partition = offsets.find((o) => o.partition === request.partition);
        if (!partition) continue;
        const high = Number(partition.high);
        const low = Number(partition.low);
        if (high <= low) continue;
        wanted.set(key, {
          topic,
          partition: request.partition,
          from: Math.max(low, high - request.count),
          last: high - 1,
        });
      }
    }
    if (wanted.size === 0) return found;

    const groupId = `${options.groupPrefix}dolly-tail-reader-${randomUUID()}`;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, retry: { retries: 3 } });
    const done = new Set<string>();
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...new Set([...wanted.values()].map((w) => w.topic))] });
      const finished = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`Timed out reading partition tails (${done.size}/${wanted.size} read)`),
            ),
          options.timeoutMs ?? 30_000,
        );
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              const key = tailKey(batch.topic, batch.partition);
              const target = wanted.get(key);
              if (!target) return;
              for (const message of batch.messages) {
                const offset = Number(message.offset);
                if (offset < target.from || offset > target.last) continue;
                const id = message.headers?.ce_id;
                if (id !== undefined) found.get(key)!.add(id.toString());
                if (offset >= target.last) done.add(key);
              }
              if (done.size === wanted.size) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .then(() => {
            // A consumer that crashed as it joined (a broker just back) cannot seek: the read fails.
            try {
              for (const target of wanted.values()) {
                consumer.seek({
                  topic: target.topic,
                  partition: target.partition,
                  offset: String(target.from),
                });
              }
            } catch (error) {
              clearTimeout(timer);
              reject(error as Error);
            }
          }, reject);
      });
      await finished;
    } finally {
      // A consumer that crashed as it joined (a broker just back) may never finish disconnecting:
      // it is let go after a while, or the read would never return.
      await within(
        10_000,
        consumer.disconnect().catch(() => undefined),
      );
      await within(
        10_000,
        admin.deleteGroups([groupId]).catch(() => undefined),
      );
    }
    return found;
  } finally {
    await within(
      10_000,
      admin.disconnect().catch(() => undefined),
    );
  }
}

export { tailKey };
