// The local broker's life cycle as the dev stack and the integration tests use it: start (twice),
// a message through kafkajs, stop, restart on the same data. An isolated dir and port, so a dev
// broker on 19092 is neither used nor disturbed.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { testKafka } from '@dolly/testing';
import type { Kafka } from 'kafkajs';
import {
  ensureKafkaRunning,
  kafkaRunning,
  localKafkaClientEnv,
  restartKafka,
  stopKafka,
  type LocalKafkaOptions,
} from './local-kafka';

const TEST_PORT = 19592;
const TOPIC = 'dolly.local-kafka.int-spec';
const GROUP_ID = 'local-kafka-int-spec';
const TSX = path.resolve(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');
const CLI = path.join(__dirname, 'local-kafka.ts');

jest.setTimeout(180_000);

describe('local Kafka broker', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dolly-kafka-int-'));
  const opts: LocalKafkaOptions = { dir, port: TEST_PORT };
  const brokers = `127.0.0.1:${TEST_PORT}`;
  // As Dolly's principal, with the credentials the first start makes. (Quiet: the first join of a
  // fresh broker logs "coordinator not available" while it creates __consumer_offsets.)
  const kafka = () => testKafka(localKafkaClientEnv(opts));
  let clusterIdAtFirstStart = '';

  afterAll(async () => {
    await stopKafka(opts);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts a broker that answers on the requested port', async () => {
    const started = await ensureKafkaRunning(opts);

    expect(started).toEqual({ brokers, startedHere: true });
    expect(await kafkaRunning(opts)).toBe(true);
    clusterIdAtFirstStart = await clusterId(kafka());
  });

  it('only reports a broker that already runs', async () => {
    const pidBefore = brokerPid(dir);

    const again = await ensureKafkaRunning(opts);

    expect(again).toEqual({ brokers, startedHere: false });
    expect(brokerPid(dir)).toBe(pidBefore);
  });

  it('carries a message from a kafkajs producer to a consumer group', async () => {
    await produceOne(kafka(), 'before-restart');

    const received = await consumeFromBeginning(kafka(), GROUP_ID, 1);

    expect(received).toEqual(['before-restart']);
  });

  it('stops the broker, and a second stop is a no-op', async () => {
    expect(await stopKafka(opts)).toBe(true);
    expect(await kafkaRunning(opts)).toBe(false);
    expect(await stopKafka(opts)).toBe(false);
  });

  it('restarts from a process that exits, on the same cluster, with the message and the committed offset', async () => {
    // The CLI process ends right after the start: the broker must outlive it.
    await promisify(execFile)(TSX, [CLI, 'start'], {
      env: { ...process.env, DOLLY_KAFKA_DIR: dir, DOLLY_KAFKA_PORT: String(TEST_PORT) },
    });
    expect(await kafkaRunning(opts)).toBe(true);
    expect(await clusterId(kafka())).toBe(clusterIdAtFirstStart);

    expect(await consumeFromBeginning(kafka(), `${GROUP_ID}-after-restart`, 1)).toEqual([
      'before-restart',
    ]);
    const admin = kafka().admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: GROUP_ID, topics: [TOPIC] });
    await admin.disconnect();
    expect(committed?.partitions.map((p) => p.offset)).toEqual(['1']);
  });

  it('lets a connected idempotent producer carry on after a restart', async () => {
    // The outbox relay keeps one producer for its whole life: a broker outage must not need a new one.
    const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      await producer.send({
        topic: TOPIC,
        acks: -1,
        messages: [{ key: 'vm-1', value: 'before-outage' }],
      });

      expect(await restartKafka(opts)).toEqual({ brokers, startedHere: true });
      await producer.send({
        topic: TOPIC,
        acks: -1,
        messages: [{ key: 'vm-1', value: 'after-outage' }],
      });
    } finally {
      await producer.disconnect();
    }

    expect(await consumeFromBeginning(kafka(), `${GROUP_ID}-after-outage`, 3)).toEqual([
      'before-restart',
      'before-outage',
      'after-outage',
    ]);
  });

  it('recovers its data after a hard kill', async () => {
    // No grace period: SIGKILL at once, as a crash or an impatient test would leave it.
    expect(await stopKafka({ ...opts, stopTimeoutMs: 0 })).toBe(true);
    expect(await kafkaRunning(opts)).toBe(false);

    expect(await ensureKafkaRunning(opts)).toEqual({ brokers, startedHere: true });

    expect(await consumeFromBeginning(kafka(), `${GROUP_ID}-after-kill`, 3)).toEqual([
      'before-restart',
      'before-outage',
      'after-outage',
    ]);
  });
});

async function clusterId(kafka: Kafka): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.describeCluster()).clusterId;
  } finally {
    await admin.disconnect();
  }
}

function brokerPid(dir: string): number {
  return Number(fs.readFileSync(path.join(dir, 'broker.pid'), 'utf8'));
}

async function produceOne(kafka: Kafka, value: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({
    topic: TOPIC,
    acks: -1,
    messages: [{ key: 'vm-1', value, headers: { eventType: 'VmCloned' } }],
  });
  await producer.disconnect();
}

/** Reads `count` messages of TOPIC from the start as `groupId`, committing as it goes. */
async function consumeFromBeginning(
  kafka: Kafka,
  groupId: string,
  count: number,
): Promise<string[]> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 500 });
  const received: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [TOPIC], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${received.length} of ${count} messages within 30 s`)),
        30_000,
      );
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic, partition, message }) => {
          received.push(String(message.value));
          await consumer.commitOffsets([
            { topic, partition, offset: String(Number(message.offset) + 1) },
          ]);
          if (received.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return received;
}
