import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RecordedEvent, fromKafkaMessage } from '@dolly/contracts';
import { loadConfig } from '@dolly/config';
import { createKafka, kafkaConnection, untilKafkaAnswers } from '@dolly/messaging';
import type { IHeaders, Kafka } from 'kafkajs';
import {
  ensureKafkaJars,
  LocalKafkaError,
  ensureKafkaRunning,
  localKafkaClientEnv,
  runKafkaTool,
  stopKafka,
} from '../../../tools/kafka/local-kafka';

/**
 * A client as Dolly's apps make one from the environment (KAFKA_BROKERS, KAFKA_SASL_*): the
 * suites' global setup puts the local broker and Dolly's principal there; an IsolatedKafka's
 * `env` is another broker's.
 */
export function testKafka(env: NodeJS.ProcessEnv = process.env): Kafka {
  return createKafka({ ...kafkaConnection(loadConfig(env)), clientId: 'dolly-test' });
}

/**
 * A test's topic and group prefix: `t`, its creation time (seconds, 8 hex digits) and 4 random
 * bytes, so that a later run can tell what a killed run left (removeAbandonedPrefixes).
 */
export const testPrefix = () =>
  `t${Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0')}${randomBytes(4).toString('hex')}.`;

const TEST_PREFIX = /^t([0-9a-f]{8})[0-9a-f]{8}\./;

/** The prefixes uniquePrefix() gave out in this test file: removeIssuedPrefixes() removes them. */
const issuedPrefixes = new Set<string>();

/** A topic and group prefix of the test's own (DOLLY_KAFKA_PREFIX); removed when the file ends. */
export const uniquePrefix = () => {
  const prefix = testPrefix();
  issuedPrefixes.add(prefix);
  return prefix;
};

/**
 * Removes what a test made on a broker under its prefix: the topics, then the consumer groups
 * (a group can be deleted once its members are gone: a killed consumer's leaves when its session
 * times out, so this waits up to `groupsTimeoutMs`). A broker that does not answer is skipped:
 * an isolated broker is removed whole.
 */
export async function removeKafkaPrefix(
  prefix: string,
  env: NodeJS.ProcessEnv = process.env,
  { groupsTimeoutMs = 30_000 }: { groupsTimeoutMs?: number } = {},
): Promise<void> {
  if (!/^t[0-9a-f]+\.$/.test(prefix)) throw new Error(`Not a test's prefix: "${prefix}"`);
  const admin = createKafka({
    ...kafkaConnection(loadConfig(env)),
    clientId: 'dolly-test-cleanup',
    // One try: a broker the test stopped (or removed) has nothing left to clean.
  }).admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
  } catch {
    return;
  }
  try {
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
    const deadline = Date.now() + groupsTimeoutMs;
    for (;;) {
      const groups = (await admin.listGroups()).groups
        .map(({ groupId }) => groupId)
        .filter((groupId) => groupId.startsWith(prefix));
      if (groups.length === 0) return;
      try {
        await admin.deleteGroups(groups);
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(
            `Consumer groups ${groups.join(', ')} still have members after ${groupsTimeoutMs} ms: ${(error as Error).message}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Removes the topics and consumer groups of test prefixes made more than `olderThanSeconds` ago:
 * what a killed run left behind (the suites' global setup runs it, as it drops such databases).
 */
export async function removeAbandonedPrefixes(
  olderThanSeconds: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const admin = testKafka(env).admin();
  await admin.connect();
  try {
    const names = [
      ...(await admin.listTopics()),
      // The suites' global setup runs this right after starting the broker, whose group
      // coordinator may still be loading.
      ...(
        await untilKafkaAnswers(Date.now() + 60_000, 'the consumer groups', () =>
          admin.listGroups(),
        )
      ).groups.map(({ groupId }) => groupId),
    ];
    const now = Date.now() / 1000;
    const abandoned = new Set<string>();
    for (const name of names) {
      const match = TEST_PREFIX.exec(name);
      if (match && now - parseInt(match[1], 16) > olderThanSeconds) abandoned.add(match[0]);
    }
    const removed: string[] = [];
    for (const prefix of abandoned) {
      // A group that still has members is still in use (a run that long): it stays.
      await removeKafkaPrefix(prefix, env, { groupsTimeoutMs: 0 }).then(
        () => removed.push(prefix),
        () => undefined,
      );
    }
    return removed;
  } finally {
    await admin.disconnect();
  }
}

/** Removes the topics and groups of every prefix uniquePrefix() gave out (tools/jest's setup runs it). */
export async function removeIssuedPrefixes(): Promise<void> {
  for (const prefix of issuedPrefixes) {
    await removeKafkaPrefix(prefix);
    issuedPrefixes.delete(prefix);
  }
}

/** Two free neighbouring ports (a broker and its controller). */
export async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port: found } = server.address() as { port: number };
        server.close(() => resolve(found));
      });
      server.on('error', reject);
    });
    if (port < 65000) {
      const next = await new Promise<boolean>((resolve) => {
        const probe = createServer().listen(port + 1, '127.0.0.1', () =>
          probe.close(() => resolve(true)),
        );
        probe.on('error', () => resolve(false));
      });
      if (next) return port;
    }
  }
}

/**
 * A broker of the test's own, for tests that stop Kafka mid-run: stopping the shared one would
 * break the test files running beside it.
 */
export class IsolatedKafka {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /**
   * A port found free may be taken by another process before the broker binds it (test files
   * start brokers side by side): then the broker is started again on other ports, a few times.
   */
  static async start(): Promise<IsolatedKafka> {
    for (let attempt = 1; ; attempt++) {
      const kafka = new IsolatedKafka(
        mkdtempSync(join(tmpdir(), 'dolly-kafka-')),
        await freePortPair(),
      );
      try {
        await kafka.start();
        return kafka;
      } catch (error) {
        await kafka.destroy().catch(() => undefined);
        if (attempt >= 3 || !(error instanceof LocalKafkaError && error.portTaken)) throw error;
      }
    }
  }

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** KAFKA_BROKERS and Dolly's principal on this broker: for DollyStack.start and testKafka. */
  get env(): Record<string, string> {
    return localKafkaClientEnv({ dir: this.dir, port: this.port });
  }

  async start(): Promise<void> {
    await ensureKafkaRunning({ dir: this.dir, port: this.port });
  }

  async stop(): Promise<void> {
    await stopKafka({ dir: this.dir, port: this.port });
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A broker configured by the test itself, on the local broker's jars, for what
 * tools/kafka/local-kafka.ts never configures (a broker from before authentication, TLS): its
 * storage formatted (with these SCRAM users), the JVM started; `ready` says when it answers.
 */
export class CustomKafka {
  private constructor(
    readonly dir: string,
    private readonly broker: ChildProcess,
  ) {}

  static async start(options: {
    dir: string;
    properties: Record<string, string | number>;
    /** SCRAM-SHA-512 users, bootstrapped at format time (kafka-storage --add-scram). */
    scramUsers?: { username: string; password: string }[];
    /** Extra JVM options (a JAAS file...). */
    jvmOptions?: string[];
    ready: () => Promise<boolean>;
  }): Promise<CustomKafka> {
    const { dir } = options;
    const propertiesFile = join(dir, 'server.properties');
    writeFileSync(
      propertiesFile,
      Object.entries({ 'log.dirs': join(dir, 'data'), ...options.properties })
        .map(([key, value]) => `${key}=${value}\n`)
        .join(''),
    );
    const format = await runKafkaTool(
      'kafka.tools.StorageTool',
      [
        'format',
        '--cluster-id',
        // A Kafka Uuid (16 bytes, base64url); one starting with '-' would read as an option.
        `A${randomBytes(16).toString('base64url').slice(1)}`,
        '--config',
        propertiesFile,
        ...(options.scramUsers ?? []).flatMap(({ username, password }) => [
          '--add-scram',
          `SCRAM-SHA-512=[name=${username},password=${password}]`,
        ]),
      ],
      { dir },
    );
    if (format.code !== 0) throw new Error(`kafka-storage format failed:\n${format.output}`);
    const jars = await ensureKafkaJars();
    const classPath = readdirSync(jars)
      .filter((file) => file.endsWith('.jar'))
      .sort()
      .map((file) => join(jars, file))
      .join(':');
    const logsDir = join(dir, 'logs');
    mkdirSync(logsDir, { recursive: true });
    const broker = spawn(
      'java',
      [
        '-Xmx256m',
        '-XX:TieredStopAtLevel=1',
        `-Dkafka.logs.dir=${logsDir}`,
        `-Dlog4j2.configurationFile=${join(__dirname, '..', '..', '..', 'tools', 'kafka', 'log4j2.xml')}`,
        ...(options.jvmOptions ?? []),
        '-cp',
        classPath,
        'kafka.Kafka',
        propertiesFile,
      ],
      { stdio: 'ignore' },
    );
    const kafka = new CustomKafka(dir, broker);
    const deadline = Date.now() + 60_000;
    while (!(await options.ready())) {
      if (broker.exitCode !== null || Date.now() > deadline) {
        kafka.kill();
        throw new Error(`the broker in ${dir} did not answer within 60 s; see ${logsDir}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return kafka;
  }

  get pid(): number {
    return this.broker.pid!;
  }

  kill(): void {
    if (this.broker.exitCode === null) this.broker.kill('SIGKILL');
  }
}

/** A message as a consumer got it, with where it was. */
export interface ConsumedKafkaMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

/**
 * Reads every message of some topics from the beginning (as a group of its own), until `enough`
 * says the messages so far are enough; then reads on for `lingerMs`, for what should not come.
 */
export async function readMessages(
  kafka: Kafka,
  topics: string[],
  enough: (messages: readonly ConsumedKafkaMessage[]) => boolean,
  { timeoutMs = 30_000, lingerMs = 0 }: { timeoutMs?: number; lingerMs?: number } = {},
): Promise<ConsumedKafkaMessage[]> {
  const groupId = `dolly-test-reader-${randomBytes(4).toString('hex')}`;
  const consumer = kafka.consumer({
    groupId,
    maxWaitTimeInMs: 100,
  });
  const messages: ConsumedKafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Not enough within ${timeoutMs} ms: ${messages.length} messages`)),
        timeoutMs,
      );
      void consumer.run({
        eachMessage: async ({ topic, partition, message }) => {
          const { key, value, offset } = message;
          messages.push({ topic, partition, offset, key, value, headers: message.headers ?? {} });
          if (enough(messages)) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    if (lingerMs > 0) await new Promise((resolve) => setTimeout(resolve, lingerMs));
  } finally {
    await consumer.disconnect();
    // The reader's group was for this read only.
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteGroups([groupId]).finally(() => admin.disconnect());
  }
  return messages;
}

/** Reads every message of some topics from the beginning, until `count` have arrived. */
export async function consumeEvents(
  kafka: Kafka,
  topics: string[],
  count: number,
  timeoutMs = 30_000,
): Promise<RecordedEvent[]> {
  // Anything beyond count is a duplicate: give it a moment to show up.
  const messages = await readMessages(kafka, topics, (so) => so.length >= count, {
    timeoutMs,
    lingerMs: 1000,
  });
  return messages.map(fromKafkaMessage);
}
