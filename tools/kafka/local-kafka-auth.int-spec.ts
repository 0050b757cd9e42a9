// Only Dolly writes Dolly's topics: the local broker (the one the suites' global setup started)
// refuses clients without credentials on every listener, lets the read-only integrator principal
// consume Dolly's events and nothing else, and lets Dolly's own principal produce and consume.
// kcat plays the client that is not ours. A second part upgrades a data dir that was formatted
// and run before the broker had authentication.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { eventTopic, progressTopic } from '@dolly/contracts';
import { CustomKafka, freePortPair, testKafka, uniquePrefix } from '@dolly/testing';
import {
  LOCAL_KAFKA_SASL_MECHANISM,
  allowIntegratorToConsume,
  ensureKafkaRunning,
  localKafkaCredentials,
  localKafkaFiles,
  revokeIntegratorConsuming,
  runKafkaTool,
  stopKafka,
  type LocalKafkaOptions,
} from './local-kafka';

interface KcatResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Principal {
  username: string;
  password: string;
}

/** Runs kcat with optional input on stdin; never throws on a non-zero exit. */
function kcat(args: string[], input = ''): Promise<KcatResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A kcat that is refused (or consumes) may exit before it reads its input: the write then
    // fails with EPIPE, and the exit code and stderr say what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/**
 * kcat's options to log in as `principal`. SASL/PLAIN: Debian 12's kcat has librdkafka 2.0.2,
 * whose SCRAM Kafka 4 refuses (fixed in librdkafka 2.6.1); kafkajs and Java clients use SCRAM.
 */
const as = (principal: Principal): string[] => [
  '-X',
  'security.protocol=SASL_PLAINTEXT',
  '-X',
  'sasl.mechanisms=PLAIN',
  '-X',
  `sasl.username=${principal.username}`,
  '-X',
  `sasl.password=${principal.password}`,
];

/** Every message of a topic from the beginning, as "key:value" lines, read as `principal`. */
async function readAll(brokers: string, topic: string, principal: Principal): Promise<string[]> {
  const result = await kcat([
    '-b',
    brokers,
    ...as(principal),
    '-C',
    '-t',
    topic,
    '-o',
    'beginning',
    '-e',
    '-q',
    '-f',
    '%k:%s\\n',
  ]);
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  return result.stdout.split('\n').filter(Boolean).sort();
}

/** Produces "key:value" lines; fails fast instead of waiting the default 5 minutes for a broker. */
const produce = (brokers: string, topic: string, lines: string[], auth: string[] = []) =>
  kcat(
    [
      '-b',
      brokers,
      ...auth,
      '-P',
      '-t',
      topic,
      '-K',
      ':',
      '-m',
      '5',
      '-X',
      'message.timeout.ms=5000',
    ],
    `${lines.join('\n')}\n`,
  );

describe('the local broker the suites run on', () => {
  const brokers = process.env.KAFKA_BROKERS!;
  const credentials = localKafkaCredentials();
  const prefix = uniquePrefix();
  const vmEvents = eventTopic('vm', prefix);

  beforeAll(async () => {
    // What Dolly's relay does: create the topic, publish events.
    const admin = testKafka().admin();
    await admin.connect();
    await admin.createTopics({
      topics: [vmEvents, progressTopic(prefix)].map((topic) => ({ topic, numPartitions: 1 })),
      waitForLeaders: true,
    });
    await admin.disconnect();
    const producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({
      topic: vmEvents,
      acks: -1,
      messages: [
        { key: 'vm-1', value: 'VmCreated' },
        { key: 'vm-1', value: 'VmRenamed' },
      ],
    });
    await producer.send({
      topic: progressTopic(prefix),
      messages: [{ key: 'task-1', value: '50%' }],
    });
    await producer.disconnect();
    await allowIntegratorToConsume(prefix);
  });
  afterAll(() => revokeIntegratorConsuming(prefix));

  it('keeps its credentials in a file only its owner can read, and passes Dolly’s to the suites', () => {
    for (const file of Object.values(localKafkaFiles())) {
      expect([file, fs.statSync(file).mode & 0o777]).toEqual([file, 0o600]);
    }
    expect({
      mechanism: process.env.KAFKA_SASL_MECHANISM,
      username: process.env.KAFKA_SASL_USERNAME,
      password: process.env.KAFKA_SASL_PASSWORD,
    }).toEqual({ mechanism: LOCAL_KAFKA_SASL_MECHANISM, ...credentials.dolly });
    expect(credentials.integrator.username).not.toBe(credentials.dolly.username);
  });

  it('tells a client without credentials nothing on the client listener', async () => {
    const listing = await kcat(['-b', brokers, '-L', '-m', '3']);

    expect(listing.code).not.toBe(0);
    expect(listing.stdout).not.toContain(vmEvents);
  });

  it('tells a client without credentials nothing on the controller listener either', async () => {
    // Kafka's own admin client can talk to controllers (KIP-919); kcat cannot.
    const controller = brokers.replace(/:(\d+)$/, (_, port: string) => `:${Number(port) + 1}`);
    const timeouts = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dolly-kafka-')), 'client');
    fs.writeFileSync(timeouts, 'default.api.timeout.ms=5000\nrequest.timeout.ms=3000\n');
    const adminClient = `${timeouts}.admin`;
    fs.writeFileSync(
      adminClient,
      `${fs.readFileSync(localKafkaFiles().adminClient, 'utf8')}${fs.readFileSync(timeouts, 'utf8')}`,
    );
    const clusterId = (clientConfig: string) =>
      runKafkaTool('org.apache.kafka.tools.ClusterTool', [
        'cluster-id',
        '--bootstrap-controller',
        controller,
        '--command-config',
        clientConfig,
      ]);

    const anonymous = await clusterId(timeouts);
    const asTheBroker = await clusterId(adminClient);

    expect(anonymous.code).not.toBe(0);
    expect(anonymous.output).not.toMatch(/Cluster ID:/);
    expect(asTheBroker).toEqual({ code: 0, output: expect.stringMatching(/Cluster ID: \S+/) });
    fs.rmSync(path.dirname(timeouts), { recursive: true, force: true });
  });

  it('refuses a client without credentials that produces, and nothing lands', async () => {
    const produced = await produce(brokers, vmEvents, ['vm-1:forged-without-credentials']);

    expect(produced.code).not.toBe(0);
    expect(await readAll(brokers, vmEvents, credentials.dolly)).toEqual([
      'vm-1:VmCreated',
      'vm-1:VmRenamed',
    ]);
  });

  it('refuses a known principal with a wrong password', async () => {
    const listing = await kcat([
      '-b',
      brokers,
      ...as({ username: credentials.integrator.username, password: 'not-the-password' }),
      '-L',
      '-m',
      '3',
    ]);

    expect(listing.code).not.toBe(0);
    expect(listing.stderr).toMatch(/Authentication failed/i);
  });

  it('lets the read-only principal consume Dolly’s events', async () => {
    expect(await readAll(brokers, vmEvents, credentials.integrator)).toEqual([
      'vm-1:VmCreated',
      'vm-1:VmRenamed',
    ]);
  });

  it('refuses the read-only principal that produces with an authorization error, and nothing lands', async () => {
    const produced = await produce(
      brokers,
      vmEvents,
      ['vm-1:forged-by-integrator'],
      as(credentials.integrator),
    );

    expect(produced.code).not.toBe(0);
    expect(produced.stderr).toMatch(/Topic authorization failed/);
    expect(await readAll(brokers, vmEvents, credentials.dolly)).toEqual([
      'vm-1:VmCreated',
      'vm-1:VmRenamed',
    ]);
  });

  it('refuses the read-only principal logged in with SCRAM through kafkajs as well', async () => {
    const producer = testKafka({
      KAFKA_BROKERS: brokers,
      KAFKA_SASL_MECHANISM: LOCAL_KAFKA_SASL_MECHANISM,
      KAFKA_SASL_USERNAME: credentials.integrator.username,
      KAFKA_SASL_PASSWORD: credentials.integrator.password,
    }).producer();
    await producer.connect();
    try {
      await expect(
        producer.send({ topic: vmEvents, messages: [{ key: 'vm-1', value: 'forged-over-scram' }] }),
      ).rejects.toThrow(/Not authorized to access topics/);
    } finally {
      await producer.disconnect();
    }
    expect(await readAll(brokers, vmEvents, credentials.dolly)).toEqual([
      'vm-1:VmCreated',
      'vm-1:VmRenamed',
    ]);
  });

  it('shows the read-only principal neither Dolly’s other topics nor another installation’s events', async () => {
    for (const topic of [progressTopic(prefix), eventTopic('vm', uniquePrefix())]) {
      const consumed = await kcat([
        '-b',
        brokers,
        ...as(credentials.integrator),
        '-C',
        '-t',
        topic,
        '-o',
        'beginning',
        '-e',
        '-m',
        '3',
      ]);

      expect(consumed.code).not.toBe(0);
      expect(consumed.stdout).toBe('');
      expect(consumed.stderr).toMatch(/authorization failed/i);
    }
  });

  it('lets the read-only principal keep offsets in its own consumer groups, not in Dolly’s', async () => {
    const groupRead = (group: string) =>
      kcat([
        '-b',
        brokers,
        ...as(credentials.integrator),
        '-G',
        group,
        '-X',
        'auto.offset.reset=earliest',
        '-e',
        '-q',
        '-f',
        '%s\\n',
        vmEvents,
      ]);

    const ownGroup = `integrator.${randomBytes(4).toString('hex')}`;
    const own = await groupRead(ownGroup);
    // The group was the test's: it goes (Dolly's principal may delete any group here).
    const admin = testKafka().admin();
    await admin.connect();
    await admin.deleteGroups([ownGroup]).finally(() => admin.disconnect());
    expect({ code: own.code, stdout: own.stdout }).toEqual({
      code: 0,
      stdout: 'VmCreated\nVmRenamed\n',
    });

    const dollys = await groupRead(`${prefix}dolly-projector`);
    expect(dollys.code).not.toBe(0);
    expect(dollys.stderr).toMatch(/Group authorization failed/i);
  });

  it('lets Dolly’s principal produce and consume', async () => {
    const topic = eventTopic('host', prefix);
    const admin = testKafka().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();

    const produced = await produce(
      brokers,
      topic,
      ['host-1:HostRegistered'],
      as(credentials.dolly),
    );

    expect({ code: produced.code, stderr: produced.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await readAll(brokers, topic, credentials.dolly)).toEqual(['host-1:HostRegistered']);
  });
});

describe('a data dir formatted and running before the broker had authentication', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dolly-kafka-legacy-'));
  let opts: LocalKafkaOptions;
  let brokers: string;
  const logLines: string[] = [];
  let legacyBroker: CustomKafka | undefined;

  beforeAll(async () => {
    const port = await freePortPair();
    brokers = `127.0.0.1:${port}`;
    opts = { dir, port, log: (line) => logLines.push(line) };
    legacyBroker = await startLegacyBroker(dir, port);
    const produced = await produce(brokers, 'dolly.vm.events', ['vm-1:before-upgrade']);
    expect({ code: produced.code, stderr: produced.stderr }).toEqual({ code: 0, stderr: '' });
  });

  afterAll(async () => {
    legacyBroker?.kill();
    await stopKafka(opts);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('restarts the running broker with authentication and adds the principals, keeping the data', async () => {
    const clusterId = /^cluster\.id=(.+)$/m.exec(
      fs.readFileSync(path.join(dir, 'data', 'meta.properties'), 'utf8'),
    )?.[1];

    expect(await ensureKafkaRunning(opts)).toEqual({ brokers, startedHere: true });

    expect(logLines.join('\n')).toMatch(/started without authentication.*restarting it/);
    expect(logLines.join('\n')).toMatch(
      /predates authentication.*adding the SCRAM users dolly, integrator/,
    );
    const credentials = localKafkaCredentials(opts);
    expect((await kcat(['-b', brokers, '-L', '-m', '3'])).code).not.toBe(0);
    expect(await readAll(brokers, 'dolly.vm.events', credentials.dolly)).toEqual([
      'vm-1:before-upgrade',
    ]);
    expect(await readAll(brokers, 'dolly.vm.events', credentials.integrator)).toEqual([
      'vm-1:before-upgrade',
    ]);
    const admin = testKafka({
      KAFKA_BROKERS: brokers,
      KAFKA_SASL_MECHANISM: LOCAL_KAFKA_SASL_MECHANISM,
      KAFKA_SASL_USERNAME: credentials.dolly.username,
      KAFKA_SASL_PASSWORD: credentials.dolly.password,
    }).admin();
    await admin.connect();
    expect((await admin.describeCluster()).clusterId).toBe(clusterId);
    await admin.disconnect();
  });

  it('starts the upgraded dir again without upgrading it again', async () => {
    logLines.length = 0;
    await stopKafka(opts);

    expect(await ensureKafkaRunning(opts)).toEqual({ brokers, startedHere: true });

    expect(logLines.join('\n')).not.toMatch(/without authentication|predates authentication/);
    const credentials = localKafkaCredentials(opts);
    expect(await readAll(brokers, 'dolly.vm.events', credentials.integrator)).toEqual([
      'vm-1:before-upgrade',
    ]);
  });
});

/**
 * What tools/kafka/local-kafka.ts made before it had authentication: one PLAINTEXT listener for
 * clients and one for the controller, storage formatted without SCRAM users, the broker running
 * with dir/server.properties and its pid in dir/broker.pid.
 */
async function startLegacyBroker(dir: string, port: number): Promise<CustomKafka> {
  const broker = await CustomKafka.start({
    dir,
    properties: {
      'process.roles': 'broker,controller',
      'node.id': 1,
      'controller.quorum.voters': `1@127.0.0.1:${port + 1}`,
      listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${port + 1}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'controller.listener.names': 'CONTROLLER',
      'inter.broker.listener.name': 'PLAINTEXT',
      'offsets.topic.replication.factor': 1,
      'transaction.state.log.replication.factor': 1,
      'transaction.state.log.min.isr': 1,
      'share.coordinator.state.topic.replication.factor': 1,
      'share.coordinator.state.topic.min.isr': 1,
      'num.partitions': 1,
    },
    ready: async () => (await kcat(['-b', `127.0.0.1:${port}`, '-L', '-m', '2'])).code === 0,
  });
  fs.writeFileSync(path.join(dir, 'broker.pid'), `${broker.pid}\n`);
  return broker;
}
