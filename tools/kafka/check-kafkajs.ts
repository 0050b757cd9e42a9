/**
 * Which Kafka releases does kafkajs 2.2.4 work against? Starts an isolated broker per release
 * (tools/kafka/local-kafka.ts) and drives every kafkajs API Dolly relies on, then prints a
 * Markdown table per release. The findings live in COMPATIBILITY.md; re-run this before moving
 * KAFKA_VERSION or kafkajs.
 *
 *   npx tsx tools/kafka/check-kafkajs.ts [version ...]     (default: the newest patch of each line)
 *
 * Env: CHECK_KAFKA_PORT (default 19292) so a running dev broker on 19092 is left alone.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  CompressionTypes,
  ConfigResourceTypes,
  Kafka,
  logLevel,
  Partitioners,
  ResourcePatternTypes,
  type Consumer,
  type EachBatchPayload,
  type LogEntry,
} from 'kafkajs';
import {
  LOCAL_KAFKA_SASL_MECHANISM,
  ensureKafkaRunning,
  localKafkaCredentials,
  stopKafka,
} from './local-kafka';

const DEFAULT_VERSIONS = ['4.4.0', '4.3.1', '4.2.2', '4.1.2', '4.0.2', '4.0.0', '3.9.1'];
const COMPAT_ROOT = path.resolve(__dirname, '..', '..', '.local', 'kafka-compat');
const STEP_TIMEOUT_MS = 30_000;

const ORDERS_TOPIC = 'compat-orders';
const ORDERS_PARTITIONS = 6;
const AUDIT_TOPIC = 'compat-audit';
const AUDIT_PARTITIONS = 3;
const BATCHES = 5;
const ORDERS_PER_BATCH = 20;
const AUDIT_PER_BATCH = 5;
const GROUP_ID = 'compat-group';
const TXN_GROUP_ID = 'compat-txn-group';

/**
 * The request versions kafkajs implements, read from kafkajs itself. kafkajs sends
 * min(its newest, the broker's newest) and never looks at the broker's oldest: an API whose
 * oldest broker version is above kafkajs's newest fails on the wire (KIP-896 raised those floors).
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const kafkajsRequests = require('kafkajs/src/protocol/requests').requests as Record<
  string,
  { versions: string[] }
>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const kafkajsApiKeys = require('kafkajs/src/protocol/requests/apiKeys') as Record<string, number>;

interface ApiVersionFit {
  api: string;
  key: number;
  kafkajs: string;
  broker: string;
  /** The version kafkajs will send, or why none works. */
  used: string;
  fits: boolean;
}

interface StepResult {
  step: string;
  ok: boolean;
  ms: number;
  detail: string;
  /** kafkajs error/warn log lines emitted while the step ran: the first clue to why it failed. */
  clientErrors: string[];
}

interface ReleaseResult {
  version: string;
  startMs: number;
  apiVersions: ApiVersionFit[];
  startError?: string;
  steps: StepResult[];
  /** Broker-side exceptions (e.g. UnsupportedVersionException) found in server.log afterwards. */
  brokerErrors: string[];
}

/** Everything the consumers saw, so each step can check its own expectation. */
interface Observed {
  byMember: Map<
    string,
    Array<{ key: string; partition: number; offset: string; headers: Record<string, string> }>
  >;
  joins: Array<{ member: string; at: number; partitions: number[] }>;
}

async function checkRelease(version: string, port: number): Promise<ReleaseResult> {
  const dir = path.join(COMPAT_ROOT, version);
  fs.rmSync(dir, { recursive: true, force: true });
  const result: ReleaseResult = {
    version,
    startMs: 0,
    apiVersions: [],
    steps: [],
    brokerErrors: [],
  };
  const startedAt = Date.now();
  try {
    await ensureKafkaRunning({ dir, port, version, log: (line) => console.error(`  ${line}`) });
    result.startMs = Date.now() - startedAt;
  } catch (error) {
    result.startError = messageOf(error);
    return result;
  }

  const clientLog: string[] = [];
  // As Dolly's apps connect: SASL/SCRAM-SHA-512 as the dolly principal, under the broker's ACLs.
  const credentials = localKafkaCredentials({ dir, port, version });
  const kafka = new Kafka({
    clientId: `compat-${version}`,
    brokers: [`127.0.0.1:${port}`],
    sasl: { mechanism: LOCAL_KAFKA_SASL_MECHANISM, ...credentials.dolly },
    retry: { retries: 3, initialRetryTime: 200 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) =>
      clientLog.push(
        `${entry.label} ${entry.log.message}${entry.log.error ? `: ${String(entry.log.error)}` : ''}`,
      ),
  });
  const admin = kafka.admin();
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const observed: Observed = { byMember: new Map(), joins: [] };
  const consumers: Consumer[] = [];

  const step = async (name: string, body: () => Promise<string>): Promise<void> => {
    const before = clientLog.length;
    const began = Date.now();
    let ok = false;
    let detail: string;
    try {
      detail = await withTimeout(body(), STEP_TIMEOUT_MS, name);
      ok = true;
    } catch (error) {
      detail = messageOf(error);
    }
    const stepResult = {
      step: name,
      ok,
      ms: Date.now() - began,
      detail,
      clientErrors: clientLog.slice(before, before + 5),
    };
    result.steps.push(stepResult);
    console.error(`  ${ok ? 'ok  ' : 'FAIL'} ${name} (${stepResult.ms} ms): ${detail}`);
  };

  const startConsumer = async (member: string): Promise<Consumer> => {
    // A short fetch wait: an idle kafkajs consumer only notices a rebalance between fetches.
    const consumer = kafka.consumer({
      groupId: GROUP_ID,
      sessionTimeout: 10_000,
      heartbeatInterval: 500,
      rebalanceTimeout: 10_000,
      maxWaitTimeInMs: 500,
    });
    consumers.push(consumer);
    observed.byMember.set(member, []);
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      observed.joins.push({
        member,
        at: Date.now(),
        partitions: event.payload.memberAssignment[ORDERS_TOPIC] ?? [],
      });
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [ORDERS_TOPIC], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }: EachBatchPayload) => {
        for (const message of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [key, value] of Object.entries(message.headers ?? {}))
            headers[key] = String(value);
          observed.byMember.get(member)?.push({
            key: String(message.key),
            partition: batch.partition,
            offset: message.offset,
            headers,
          });
          resolveOffset(message.offset);
        }
        // Dolly commits only after its own transaction commits: exercise the manual path.
        await consumer.commitOffsets([
          {
            topic: batch.topic,
            partition: batch.partition,
            offset: String(Number(batch.lastOffset()) + 1),
          },
        ]);
        await heartbeat();
      },
    });
    return consumer;
  };

  await step('ApiVersions: every kafkajs request fits the broker range', async () => {
    result.apiVersions = fitApiVersions(await brokerApiVersions(port));
    const misfits = result.apiVersions.filter((fit) => !fit.fits);
    expect(
      misfits.length === 0,
      `kafkajs would send unsupported versions of ${misfits.map((fit) => `${fit.api} (${fit.used})`).join(', ')}`,
    );
    return `${result.apiVersions.length} kafkajs APIs fit`;
  });

  await step('admin.connect (SASL/SCRAM-SHA-512, under ACLs) + describeCluster', async () => {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return `controller ${cluster.controller}, ${cluster.brokers.length} broker(s)`;
  });

  await step('admin.createTopics (6 + 3 partitions)', async () => {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: ORDERS_TOPIC, numPartitions: ORDERS_PARTITIONS },
        { topic: AUDIT_TOPIC, numPartitions: AUDIT_PARTITIONS },
      ],
    });
    const metadata = await admin.fetchTopicMetadata({ topics: [ORDERS_TOPIC, AUDIT_TOPIC] });
    const counts = metadata.topics
      .map((topic) => `${topic.name}:${topic.partitions.length}`)
      .sort()
      .join(', ');
    expect(
      counts === `${AUDIT_TOPIC}:${AUDIT_PARTITIONS}, ${ORDERS_TOPIC}:${ORDERS_PARTITIONS}`,
      `partitions ${counts}`,
    );
    return counts;
  });

  await step('idempotent producer: sendBatch with keys and headers', async () => {
    await producer.connect();
    for (let batch = 0; batch < BATCHES; batch++) {
      await producer.sendBatch({
        acks: -1,
        topicMessages: [
          {
            topic: ORDERS_TOPIC,
            messages: range(ORDERS_PER_BATCH).map((i) =>
              eventMessage(`vm-${i % 10}`, batch * ORDERS_PER_BATCH + i),
            ),
          },
          {
            topic: AUDIT_TOPIC,
            messages: range(AUDIT_PER_BATCH).map((i) => eventMessage(`audit-${i}`, i)),
          },
        ],
      });
    }
    return `${BATCHES} batches, ${BATCHES * (ORDERS_PER_BATCH + AUDIT_PER_BATCH)} messages`;
  });

  await step('admin.fetchTopicOffsets', async () => {
    const offsets = await admin.fetchTopicOffsets(ORDERS_TOPIC);
    const total = offsets.reduce(
      (sum, partition) => sum + Number(partition.high) - Number(partition.low),
      0,
    );
    expect(total === BATCHES * ORDERS_PER_BATCH, `high watermarks add up to ${total}`);
    return `${offsets.length} partitions, ${total} messages`;
  });

  await step('consumer group: eachBatch + manual commitOffsets, headers round trip', async () => {
    await startConsumer('a');
    await until(
      () => (observed.byMember.get('a')?.length ?? 0) >= BATCHES * ORDERS_PER_BATCH,
      'consumer a to read every message',
    );
    const seen = observed.byMember.get('a') ?? [];
    const sample = seen[0];
    expect(
      sample?.headers.eventType === 'VmCloned' && sample.headers.schemaVersion === '1',
      `headers came back as ${JSON.stringify(sample?.headers)}`,
    );
    return `${seen.length} messages, headers intact`;
  });

  await step('admin.fetchOffsets (committed = high watermark)', async () => {
    const high = new Map(
      (await admin.fetchTopicOffsets(ORDERS_TOPIC)).map((p) => [p.partition, p.high]),
    );
    // Commits come from eachBatch after the last message is seen: give them a moment to land.
    let lagging = '';
    await until(
      async () => {
        const [committed] = await admin.fetchOffsets({ groupId: GROUP_ID, topics: [ORDERS_TOPIC] });
        lagging = (committed?.partitions ?? [])
          // A partition that never got a message has nothing committed (-1) at high watermark 0.
          .filter(
            (p) =>
              p.offset !== high.get(p.partition) &&
              !(p.offset === '-1' && high.get(p.partition) === '0'),
          )
          .map((p) => `p${p.partition}@${p.offset}/${high.get(p.partition)}`)
          .join(' ');
        return (
          committed !== undefined &&
          committed.partitions.length === ORDERS_PARTITIONS &&
          lagging === ''
        );
      },
      () => `committed offsets to reach the high watermarks (${lagging})`,
    );
    return 'all partitions committed';
  });

  await step('consumer.pause + seek + resume', async () => {
    const [consumer] = consumers;
    if (consumer === undefined) throw new Error('no consumer running (previous step failed)');
    const seen = observed.byMember.get('a') ?? [];
    consumer.pause([{ topic: ORDERS_TOPIC }]);
    const countWhenPaused = seen.length;
    await producer.send({
      topic: ORDERS_TOPIC,
      acks: -1,
      messages: range(ORDERS_PARTITIONS).map((partition) => ({
        ...eventMessage('paused', partition),
        partition,
      })),
    });
    await sleep(1_500);
    expect(
      seen.length === countWhenPaused,
      `paused consumer still received ${seen.length - countWhenPaused} messages`,
    );
    consumer.seek({ topic: ORDERS_TOPIC, partition: 0, offset: '0' });
    consumer.resume([{ topic: ORDERS_TOPIC }]);
    await until(
      () =>
        seen.slice(countWhenPaused).some((m) => m.partition === 0 && m.offset === '0') &&
        seen.slice(countWhenPaused).filter((m) => m.key === 'paused').length >= ORDERS_PARTITIONS,
      'partition 0 to be re-read from offset 0 and the messages produced while paused to arrive',
    );
    return `re-read partition 0 from 0; ${seen.length - countWhenPaused} messages after resume`;
  });

  await step('two consumers in one group rebalance', async () => {
    const joinedAt = Date.now();
    await startConsumer('b');
    let assignment = '';
    await until(
      () => {
        const latest = latestJoins(observed, joinedAt);
        const a = latest.get('a') ?? [];
        const b = latest.get('b') ?? [];
        assignment = `a=[${a.join(',')}] b=[${b.join(',')}]`;
        const union = new Set([...a, ...b]);
        return (
          a.length > 0 &&
          b.length > 0 &&
          union.size === ORDERS_PARTITIONS &&
          a.length + b.length === ORDERS_PARTITIONS
        );
      },
      () => `both members to share the ${ORDERS_PARTITIONS} partitions (${assignment})`,
    );
    return assignment;
  });

  await step('admin.describeGroups', async () => {
    const { groups } = await admin.describeGroups([GROUP_ID]);
    const group = groups[0];
    expect(
      group !== undefined &&
        group.state === 'Stable' &&
        group.members.length === 2 &&
        group.protocolType === 'consumer',
      `group ${JSON.stringify(group && { state: group.state, members: group.members.length, protocolType: group.protocolType })}`,
    );
    return `${group?.state}, ${group?.members.length} members, protocol ${group?.protocol}`;
  });

  await step('a member leaves, the other takes every partition', async () => {
    const leftAt = Date.now();
    await consumers[1]?.disconnect();
    await until(
      () => (latestJoins(observed, leftAt).get('a') ?? []).length === ORDERS_PARTITIONS,
      'consumer a to be assigned every partition',
    );
    return `a=[${latestJoins(observed, leftAt).get('a')?.join(',')}]`;
  });

  await step('admin.listGroups', async () => {
    const { groups } = await admin.listGroups();
    expect(
      groups.some((group) => group.groupId === GROUP_ID),
      `groups ${JSON.stringify(groups)}`,
    );
    return `${groups.length} group(s)`;
  });

  await step('producer: GZIP-compressed batch', async () => {
    const seen = observed.byMember.get('a') ?? [];
    await producer.send({
      topic: ORDERS_TOPIC,
      acks: -1,
      compression: CompressionTypes.GZIP,
      messages: range(10).map((i) => ({ ...eventMessage('gzip', i) })),
    });
    await until(
      () => seen.filter((m) => m.key === 'gzip').length >= 10,
      'consumer a to read the 10 GZIP messages',
    );
    return '10 messages round trip';
  });

  await step(
    'transactional producer: commit, abort, sendOffsets (read_committed consumer)',
    async () => {
      const seen = observed.byMember.get('a') ?? [];
      const transactionalId = `compat-txn-${version}`;
      // Dolly's services use no transactions, so the local broker's ACLs grant the dolly
      // principal none: the broker's super user grants this one for the check.
      const superUser = new Kafka({
        clientId: `compat-${version}-super-user`,
        brokers: [`127.0.0.1:${port}`],
        sasl: { mechanism: 'plain', ...credentials.broker },
        logLevel: logLevel.NOTHING,
      }).admin();
      await superUser.connect();
      await superUser.createAcls({
        acl: [AclOperationTypes.WRITE, AclOperationTypes.DESCRIBE].map((operation) => ({
          principal: `User:${credentials.dolly.username}`,
          host: '*',
          resourceType: AclResourceTypes.TRANSACTIONAL_ID,
          resourceName: transactionalId,
          resourcePatternType: ResourcePatternTypes.LITERAL,
          operation,
          permissionType: AclPermissionTypes.ALLOW,
        })),
      });
      await superUser.disconnect();
      const transactional = kafka.producer({
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await transactional.connect();
      try {
        const committed = await transactional.transaction();
        await committed.send({
          topic: ORDERS_TOPIC,
          messages: range(3).map((i) => eventMessage('txn-commit', i)),
        });
        await committed.sendOffsets({
          consumerGroupId: TXN_GROUP_ID,
          topics: [{ topic: ORDERS_TOPIC, partitions: [{ partition: 0, offset: '1' }] }],
        });
        await committed.commit();
        const aborted = await transactional.transaction();
        await aborted.send({
          topic: ORDERS_TOPIC,
          messages: range(3).map((i) => eventMessage('txn-abort', i)),
        });
        await aborted.abort();
      } finally {
        await transactional.disconnect();
      }
      await until(
        () => seen.filter((m) => m.key === 'txn-commit').length >= 3,
        'the committed transaction to be read',
      );
      await sleep(1_000);
      const abortedSeen = seen.filter((m) => m.key === 'txn-abort').length;
      expect(abortedSeen === 0, `read_committed consumer saw ${abortedSeen} aborted messages`);
      const [txnOffsets] = await admin.fetchOffsets({
        groupId: TXN_GROUP_ID,
        topics: [ORDERS_TOPIC],
      });
      const partition0 = txnOffsets?.partitions.find((p) => p.partition === 0)?.offset;
      expect(partition0 === '1', `sendOffsets committed ${partition0} for partition 0`);
      return 'committed read, aborted hidden, offsets committed in the transaction';
    },
  );

  await step('admin.createPartitions (3 -> 4)', async () => {
    await admin.createPartitions({
      topicPartitions: [{ topic: AUDIT_TOPIC, count: AUDIT_PARTITIONS + 1 }],
    });
    const metadata = await admin.fetchTopicMetadata({ topics: [AUDIT_TOPIC] });
    const count = metadata.topics[0]?.partitions.length;
    expect(count === AUDIT_PARTITIONS + 1, `${AUDIT_TOPIC} has ${count} partitions`);
    return `${AUDIT_TOPIC}: ${count} partitions`;
  });

  await step('admin.alterConfigs + describeConfigs (topic retention.ms)', async () => {
    await admin.alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: AUDIT_TOPIC,
          configEntries: [{ name: 'retention.ms', value: '3600000' }],
        },
      ],
    });
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: ConfigResourceTypes.TOPIC, name: AUDIT_TOPIC, configNames: ['retention.ms'] },
      ],
    });
    const value = described.resources[0]?.configEntries.find(
      (entry) => entry.configName === 'retention.ms',
    )?.configValue;
    expect(value === '3600000', `retention.ms is ${value}`);
    return 'retention.ms=3600000';
  });

  await step('admin.deleteTopicRecords', async () => {
    const before = await admin.fetchTopicOffsets(AUDIT_TOPIC);
    const partition = before.find((p) => Number(p.high) > 0);
    if (partition === undefined) throw new Error(`no ${AUDIT_TOPIC} partition has records`);
    await admin.deleteTopicRecords({
      topic: AUDIT_TOPIC,
      partitions: [{ partition: partition.partition, offset: partition.high }],
    });
    const low = (await admin.fetchTopicOffsets(AUDIT_TOPIC)).find(
      (p) => p.partition === partition.partition,
    )?.low;
    expect(low === partition.high, `low watermark ${low}, expected ${partition.high}`);
    return `partition ${partition.partition} truncated to ${low}`;
  });

  await step('group empties; admin.setOffsets, resetOffsets, deleteGroups', async () => {
    await Promise.all(consumers.map((consumer) => consumer.disconnect()));
    await admin.setOffsets({
      groupId: GROUP_ID,
      topic: ORDERS_TOPIC,
      partitions: [{ partition: 1, offset: '2' }],
    });
    const [afterSet] = await admin.fetchOffsets({ groupId: GROUP_ID, topics: [ORDERS_TOPIC] });
    const partition1 = afterSet?.partitions.find((p) => p.partition === 1)?.offset;
    expect(partition1 === '2', `setOffsets left partition 1 at ${partition1}`);
    await admin.resetOffsets({ groupId: GROUP_ID, topic: ORDERS_TOPIC, earliest: true });
    const deleted = await admin.deleteGroups([GROUP_ID, TXN_GROUP_ID]);
    const failures = deleted.filter((group) => group.errorCode !== 0);
    expect(failures.length === 0, `deleteGroups: ${JSON.stringify(failures)}`);
    return 'offsets set, reset, groups deleted';
  });

  await step('admin.deleteTopics', async () => {
    await admin.deleteTopics({ topics: [ORDERS_TOPIC, AUDIT_TOPIC] });
    await until(
      async () =>
        !(await admin.listTopics()).some(
          (topic) => topic === ORDERS_TOPIC || topic === AUDIT_TOPIC,
        ),
      'the topics to disappear',
    );
    return 'both topics gone';
  });

  await withTimeout(
    Promise.allSettled([
      producer.disconnect(),
      admin.disconnect(),
      ...consumers.map((consumer) => consumer.disconnect()),
    ]),
    10_000,
    'disconnecting',
  ).catch(() => undefined);
  await stopKafka({ dir, port, version });
  result.brokerErrors = brokerExceptions(path.join(dir, 'logs'));
  return result;
}

// ---------------------------------------------------------------------------------------------

/** The broker's [oldest, newest] version of each API, from a raw ApiVersions v0 request. */
function brokerApiVersions(port: number): Promise<Map<number, [number, number]>> {
  return new Promise((resolve, reject) => {
    const clientId = Buffer.from('compat-check');
    // Request header v1: api_key, api_version, correlation_id, client_id; ApiVersions v0 has no body.
    const header = Buffer.alloc(10);
    header.writeInt16BE(18, 0);
    header.writeInt16BE(0, 2);
    header.writeInt32BE(1, 4);
    header.writeInt16BE(clientId.length, 8);
    const size = Buffer.alloc(4);
    size.writeInt32BE(header.length + clientId.length, 0);
    const socket = net.connect({ host: '127.0.0.1', port }, () =>
      socket.write(Buffer.concat([size, header, clientId])),
    );
    let received = Buffer.alloc(0);
    socket.setTimeout(5_000, () => socket.destroy(new Error('ApiVersions timed out')));
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received.length < 4 + received.readInt32BE(0)) return;
      socket.end();
      // correlation_id (4), error_code (2), [api_key, min, max] array with an int32 count.
      const errorCode = received.readInt16BE(8);
      if (errorCode !== 0) return reject(new Error(`ApiVersions error code ${errorCode}`));
      const ranges = new Map<number, [number, number]>();
      const count = received.readInt32BE(10);
      for (let i = 0, at = 14; i < count; i++, at += 6)
        ranges.set(received.readInt16BE(at), [
          received.readInt16BE(at + 2),
          received.readInt16BE(at + 4),
        ]);
      resolve(ranges);
    });
  });
}

function fitApiVersions(broker: Map<number, [number, number]>): ApiVersionFit[] {
  const fits: ApiVersionFit[] = [];
  for (const [api, definition] of Object.entries(kafkajsRequests)) {
    const implemented = definition.versions.map(Number);
    const key = kafkajsApiKeys[api];
    if (implemented.length === 0 || key === undefined) continue;
    const kafkajsMax = Math.max(...implemented);
    const range = broker.get(key);
    const kafkajs = `${Math.min(...implemented)}-${kafkajsMax}`;
    if (range === undefined) {
      fits.push({ api, key, kafkajs, broker: 'absent', used: 'none: API removed', fits: false });
      continue;
    }
    const used = Math.min(kafkajsMax, range[1]);
    const fitsRange = used >= range[0];
    fits.push({
      api,
      key,
      kafkajs,
      broker: `${range[0]}-${range[1]}`,
      used: fitsRange ? `v${used}` : `v${used} < broker's oldest v${range[0]}`,
      fits: fitsRange,
    });
  }
  return fits;
}

function eventMessage(key: string, sequence: number) {
  return {
    key,
    value: JSON.stringify({ type: 'VmCloned', data: { sequence } }),
    headers: {
      eventType: 'VmCloned',
      schemaVersion: '1',
      sequence: String(sequence),
      correlationId: randomUUID(),
    },
  };
}

/** Each member's newest assignment received after `since`. */
function latestJoins(observed: Observed, since: number): Map<string, number[]> {
  const latest = new Map<string, number[]>();
  for (const join of observed.joins)
    if (join.at >= since)
      latest.set(
        join.member,
        [...join.partitions].sort((x, y) => x - y),
      );
  return latest;
}

function brokerExceptions(logsDir: string): string[] {
  const found = new Set<string>();
  for (const file of ['server.log', 'controller.log']) {
    const text = fs.existsSync(path.join(logsDir, file))
      ? fs.readFileSync(path.join(logsDir, file), 'utf8')
      : '';
    for (const line of text.split('\n')) {
      const match = /(\w+(?:Exception|Error)):? ([^\n]{0,200})/.exec(line);
      if (match && /ERROR|WARN/.test(line) && /Unsupported|Invalid|version/i.test(line))
        found.add(`${match[1]}: ${match[2]}`);
    }
  }
  return [...found].slice(0, 10);
}

function report(results: ReleaseResult[]): string {
  const lines: string[] = [
    '## Request versions kafkajs 2.2.4 sends (broker oldest-newest in brackets)',
    '',
  ];
  const withVersions = results.filter((release) => release.apiVersions.length > 0);
  lines.push(
    `| API | kafkajs | ${withVersions.map((release) => release.version).join(' | ')} |`,
    `| --- | --- | ${withVersions.map(() => '---').join(' | ')} |`,
  );
  for (const fit of withVersions[0]?.apiVersions ?? []) {
    const cells = withVersions.map((release) => {
      const other = release.apiVersions.find((candidate) => candidate.key === fit.key);
      return other === undefined
        ? '?'
        : `${other.fits ? '' : '**'}${other.used} (${other.broker})${other.fits ? '' : '**'}`;
    });
    lines.push(`| ${fit.api} | ${fit.kafkajs} | ${cells.join(' | ')} |`);
  }
  lines.push('');
  for (const release of results) {
    const failed = release.steps.filter((s) => !s.ok);
    const verdict =
      release.startError !== undefined
        ? 'broker did not start'
        : failed.length === 0
          ? 'PASS'
          : `FAIL (${failed.length} step(s), first: ${failed[0]?.step})`;
    lines.push(`### Kafka ${release.version}: ${verdict}`, '');
    if (release.startError !== undefined) {
      lines.push('```', release.startError, '```', '');
      continue;
    }
    lines.push(
      `Broker start: ${release.startMs} ms.`,
      '',
      '| step | result | ms | detail |',
      '| --- | --- | --- | --- |',
    );
    for (const s of release.steps) {
      const detail = [s.detail, ...s.clientErrors.map((e) => `kafkajs: ${e}`)]
        .join('<br>')
        .replaceAll('|', '\\|');
      lines.push(`| ${s.step} | ${s.ok ? 'ok' : '**FAIL**'} | ${s.ms} | ${detail} |`);
    }
    if (release.brokerErrors.length > 0)
      lines.push('', 'Broker log:', ...release.brokerErrors.map((e) => `- \`${e}\``));
    lines.push('');
  }
  return lines.join('\n');
}

function expect(condition: boolean, failure: string): void {
  if (!condition) throw new Error(failure);
}

async function until(
  condition: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = STEP_TIMEOUT_MS - 2_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as Error & { originalError?: unknown }).originalError;
  return cause instanceof Error
    ? `${error.name}: ${error.message} (${cause.name}: ${cause.message})`
    : `${error.name}: ${error.message}`;
}

async function main(): Promise<void> {
  const versions = process.argv.slice(2).length > 0 ? process.argv.slice(2) : DEFAULT_VERSIONS;
  const port = Number(process.env.CHECK_KAFKA_PORT ?? 19292);
  const results: ReleaseResult[] = [];
  for (const version of versions) {
    console.error(`Kafka ${version}:`);
    results.push(await checkRelease(version, port));
  }
  fs.mkdirSync(COMPAT_ROOT, { recursive: true });
  fs.writeFileSync(path.join(COMPAT_ROOT, 'results.json'), JSON.stringify(results, null, 2));
  console.log(report(results));
  const anyFailed = results.some((r) => r.startError !== undefined || r.steps.some((s) => !s.ok));
  process.exitCode = anyFailed ? 1 : 0;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
