import { testKafka, uniquePrefix } from '@dolly/testing';
import type { Kafka, Producer } from 'kafkajs';
import { SupervisedConsumer } from './supervised-consumer';
import { ensureTopics } from './topics';

let kafka: Kafka;
let producer: Producer;

beforeAll(async () => {
  kafka = testKafka();
  producer = kafka.producer();
  await producer.connect();
});
afterAll(() => producer.disconnect());

const quiet = { warn: () => undefined, error: () => undefined };

/** A topic with one message, and a consumer group that has never read it. */
async function oneMessage(): Promise<{ topic: string; groupId: string }> {
  const prefix = uniquePrefix();
  const topic = `${prefix}supervised`;
  await ensureTopics(kafka, [{ topic, numPartitions: 1 }]);
  await producer.send({ topic, messages: [{ key: 'k', value: 'the message' }] });
  return { topic, groupId: `${prefix}group` };
}

async function until(test: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('SupervisedConsumer (real Kafka)', () => {
  it('replaces a consumer kafkajs gave up on after an error it deems final, and the message is handled again', async () => {
    const { topic, groupId } = await oneMessage();
    const handled: string[] = [];
    const replaced: string[] = [];
    const supervised = new SupervisedConsumer(
      kafka,
      { groupId, sessionTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 },
      async (consumer) => {
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ message }) => {
            handled.push(String(message.value));
            // kafkajs retries most errors in place, but not a TypeError (a bug, say): the first
            // consumer crashes for good.
            if (handled.length === 1) throw new TypeError('the handler failed');
          },
        });
      },
      { log: { ...quiet, error: (message, extra) => replaced.push(String(extra.reason)) } },
    );
    await supervised.run();
    try {
      await until(() => handled.length === 2, 60_000);
      expect(handled).toEqual(['the message', 'the message']);
      expect(replaced).toEqual([expect.stringContaining('the handler failed')]);
      await until(() => supervised.crashed === null, 30_000);
    } finally {
      await supervised.stop();
    }
  });

  it('replaces a consumer that hangs without an error (it stops fetching)', async () => {
    const { topic, groupId } = await oneMessage();
    let calls = 0;
    let handledBy = 0;
    let release!: () => void;
    const hang = new Promise<void>((resolve) => (release = resolve));
    const replaced: string[] = [];
    const supervised = new SupervisedConsumer(
      kafka,
      { groupId, sessionTimeout: 6_000, heartbeatInterval: 500, maxWaitTimeInMs: 100 },
      async (consumer) => {
        const generation = ++calls;
        await consumer.subscribe({ topics: [topic], fromBeginning: true });
        await consumer.run({
          eachMessage: async () => {
            // The first consumer's handler does not return (until the test ends): it fetches nothing more.
            if (generation === 1) await hang;
            handledBy = generation;
          },
        });
      },
      {
        stallMs: 3_000,
        checkMs: 500,
        log: { ...quiet, error: (message, extra) => replaced.push(String(extra.reason)) },
      },
    );
    await supervised.run();
    try {
      await until(() => handledBy > 1, 60_000);
      expect(replaced[0]).toMatch(/^no fetch for \d+ ms$/);
      expect(handledBy).toBe(calls);
    } finally {
      release();
      await supervised.stop();
    }
  });
});
