/**
 * The project's own single-node Apache Kafka broker: no Docker, no Kafka download. Maven resolves
 * the broker jars from Maven Central (tools/kafka/pom.xml), KRaft storage is formatted once, and
 * one JVM runs broker and controller together, detached from whoever started it.
 *
 *   npx tsx tools/kafka/local-kafka.ts start|stop|status|restart|jars
 *
 * The dev stack and the Jest global setup import ensureKafkaRunning / stopKafka / kafkaRunning;
 * integration tests stop and restart the broker mid-run, so both keep the data (same cluster id,
 * same log dirs) and both are bounded in time.
 *
 * No client gets in without credentials. Clients authenticate with SASL/SCRAM-SHA-512 and Kafka's
 * own ACLs (StandardAuthorizer) decide what each principal may do: `dolly` (Dolly's services) reads
 * and writes, `integrator` only reads Dolly's event topics. The broker itself uses SASL/PLAIN on
 * the controller listener (KRaft controllers cannot use SCRAM) and between its own components, as
 * the only super user. The passwords are made at the first start, in <dir>/credentials.json (0600).
 *
 * Environment: DOLLY_KAFKA_PORT (client port, default 19092; the controller listens on port + 1),
 * DOLLY_KAFKA_DIR (data, logs, pid file; default <repo>/.local/kafka), DOLLY_KAFKA_VERSION (only
 * to re-run the compatibility check against another release; see COMPATIBILITY.md).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  type AclEntry,
  type Admin,
  Kafka,
  logLevel,
  ResourcePatternTypes,
  type SASLOptions,
} from 'kafkajs';
import { allEventTopics } from '../../libs/contracts/src/topics';

/** The newest Kafka release that passes check-kafkajs.ts with kafkajs 2.2.4 (COMPATIBILITY.md). */
export const KAFKA_VERSION = '4.4.0';
export const DEFAULT_KAFKA_PORT = 19092;

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const POM_PATH = path.join(__dirname, 'pom.xml');
const JARS_ROOT = path.join(REPO_ROOT, '.local', 'kafka');
const HEAP_MAX = '384m';
const BROKER_NODE_ID = 1;
const POLL_INTERVAL_MS = 100;

/** How clients authenticate to the local broker (kafkajs's name; Kafka's is SCRAM-SHA-512). */
export const LOCAL_KAFKA_SASL_MECHANISM = 'scram-sha-512';
const SCRAM_MECHANISM = 'SCRAM-SHA-512';
/** The consumer groups an integrator may use: its own, named integrator.<anything>. */
export const INTEGRATOR_GROUP_PREFIX = 'integrator.';

export interface KafkaPrincipal {
  username: string;
  password: string;
}

/** The principals of the local broker, as <dir>/credentials.json holds them. */
export interface LocalKafkaCredentials {
  /** Dolly's services: Dolly's topics and consumer groups, topic creation, idempotent producing. */
  dolly: KafkaPrincipal;
  /** Integrators: read Dolly's event topics, in consumer groups named integrator.*; never write. */
  integrator: KafkaPrincipal;
  /** The broker itself (SASL/PLAIN), the only super user: controller, ACLs and SCRAM users. */
  broker: KafkaPrincipal;
}

export interface LocalKafkaOptions {
  /** Data, logs and pid file. Default: env DOLLY_KAFKA_DIR, else <repo>/.local/kafka. */
  dir?: string;
  /** Client port; the controller takes port + 1. Default: env DOLLY_KAFKA_PORT, else 19092. */
  port?: number;
  /** Kafka release. Default: env DOLLY_KAFKA_VERSION, else KAFKA_VERSION. */
  version?: string;
  /** How long a start may take before it fails, jar resolution excluded. Default 60 s. */
  startTimeoutMs?: number;
  /** How long a SIGTERM may take before SIGKILL. Default 20 s. */
  stopTimeoutMs?: number;
  /** Extra JVM options, appended last so they win. Default: env DOLLY_KAFKA_JVM_OPTS split on spaces. */
  jvmOptions?: string[];
  /** Progress lines ("resolving jars", "formatting storage"); default: none. */
  log?: (line: string) => void;
}

interface LocalKafkaConfig {
  dir: string;
  port: number;
  controllerPort: number;
  version: string;
  brokers: string;
  jarsDir: string;
  dataDir: string;
  logsDir: string;
  pidFile: string;
  propertiesFile: string;
  credentialsFile: string;
  /** Client properties of the super user, for Kafka's own tools (--command-config). */
  adminClientFile: string;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  jvmOptions: string[];
  log: (line: string) => void;
}

export type KafkaState =
  | { state: 'stopped'; brokers: string; dir: string }
  | { state: 'starting'; brokers: string; dir: string; pid: number }
  | { state: 'running'; brokers: string; dir: string; pid: number };

export class LocalKafkaError extends Error {
  override name = 'LocalKafkaError';

  constructor(
    message: string,
    /** The broker exited because another process held one of its ports when it came to bind. */
    readonly portTaken = false,
  ) {
    super(message);
  }
}

function resolveKafkaConfig(opts: LocalKafkaOptions = {}): LocalKafkaConfig {
  const dir = path.resolve(
    opts.dir ?? process.env.DOLLY_KAFKA_DIR ?? path.join(REPO_ROOT, '.local', 'kafka'),
  );
  const port = opts.port ?? parsePort(process.env.DOLLY_KAFKA_PORT) ?? DEFAULT_KAFKA_PORT;
  const version = opts.version ?? process.env.DOLLY_KAFKA_VERSION ?? KAFKA_VERSION;
  return {
    dir,
    port,
    controllerPort: port + 1,
    version,
    brokers: `127.0.0.1:${port}`,
    // Jars stay in the repo's .local even for an isolated DOLLY_KAFKA_DIR: they never change for a
    // version, and resolving them again for every test broker would cost seconds.
    jarsDir: path.join(JARS_ROOT, `jars-${version}`),
    dataDir: path.join(dir, 'data'),
    logsDir: path.join(dir, 'logs'),
    pidFile: path.join(dir, 'broker.pid'),
    propertiesFile: path.join(dir, 'server.properties'),
    credentialsFile: path.join(dir, 'credentials.json'),
    adminClientFile: path.join(dir, 'admin-client.properties'),
    startTimeoutMs: opts.startTimeoutMs ?? 60_000,
    stopTimeoutMs: opts.stopTimeoutMs ?? 20_000,
    jvmOptions:
      opts.jvmOptions ??
      (process.env.DOLLY_KAFKA_JVM_OPTS ?? '').split(' ').filter((option) => option !== ''),
    log: opts.log ?? (() => undefined),
  };
}

function parsePort(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65534) {
    throw new LocalKafkaError(
      `DOLLY_KAFKA_PORT must be a port number below 65535 (the controller takes port + 1), got "${raw}"`,
    );
  }
  return port;
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Starts the broker unless this dir's broker already runs; resolves once it answers and its
 * principals can log in with the permissions they should have.
 */
export async function ensureKafkaRunning(
  opts: LocalKafkaOptions = {},
): Promise<{ brokers: string; startedHere: boolean }> {
  const config = resolveKafkaConfig(opts);
  fs.mkdirSync(config.dir, { recursive: true });
  // Two callers (a dev stack and a test run) may start at once: only one may format and spawn.
  return withLock(lockDir(config), config.startTimeoutMs + 120_000, async () => {
    const credentials = ensureCredentials(config);
    const running = await brokerPidOf(config);
    if (running !== undefined && startedWithAuthentication(config)) {
      assertSamePort(config);
      await waitUntilReady(config, running, credentials);
      return { brokers: config.brokers, startedHere: false };
    }
    if (running !== undefined) {
      config.log(
        `the broker of ${config.dir} (pid ${running}) was started without authentication, before this version: restarting it with SASL and ACLs`,
      );
      await stopBroker(config, running);
    }
    fs.rmSync(config.pidFile, { force: true });
    const javaVersion = requireJava();
    await assertPortsFree(config);
    await ensureKafkaJars(opts);
    writeServerProperties(config, credentials);
    formatStorageOnce(config, credentials);
    const pid = spawnBroker(config, javaVersion);
    await waitUntilReady(config, pid, credentials);
    await ensurePrincipals(config, credentials);
    return { brokers: config.brokers, startedHere: true };
  });
}

/** Stops this dir's broker: SIGTERM, then SIGKILL after stopTimeoutMs. False when none ran. */
export async function stopKafka(opts: LocalKafkaOptions = {}): Promise<boolean> {
  const config = resolveKafkaConfig(opts);
  if (!fs.existsSync(config.dir)) return false;
  // The start lock: a stop issued while another process is still starting the broker waits for
  // that start to finish, rather than missing the broker and leaving it running.
  return withLock(
    lockDir(config),
    config.startTimeoutMs + config.stopTimeoutMs + 120_000,
    async () => {
      const pid = await brokerPidOf(config);
      if (pid === undefined) {
        fs.rmSync(config.pidFile, { force: true });
        return false;
      }
      await stopBroker(config, pid);
      return true;
    },
  );
}

/** SIGTERM, then SIGKILL after stopTimeoutMs; the caller holds the start lock. */
async function stopBroker(config: LocalKafkaConfig, pid: number): Promise<void> {
  signal(pid, 'SIGTERM');
  if (!(await waitForExit(pid, config.stopTimeoutMs))) {
    config.log(`broker pid ${pid} ignored SIGTERM for ${config.stopTimeoutMs} ms: killing it`);
    signal(pid, 'SIGKILL');
    if (!(await waitForExit(pid, 5_000))) {
      throw new LocalKafkaError(`broker pid ${pid} survived SIGKILL`);
    }
  }
  fs.rmSync(config.pidFile, { force: true });
  adoptClassDataArchive(config);
}

function lockDir(config: LocalKafkaConfig): string {
  return path.join(config.dir, 'start.lock');
}

/** Stops and starts again on the same data: same cluster id, same topics and offsets. */
export async function restartKafka(
  opts: LocalKafkaOptions = {},
): Promise<{ brokers: string; startedHere: boolean }> {
  await stopKafka(opts);
  return ensureKafkaRunning(opts);
}

/** True when this dir's broker process is alive and answers a Kafka request. */
export async function kafkaRunning(opts: LocalKafkaOptions = {}): Promise<boolean> {
  return (await kafkaStatus(opts)).state === 'running';
}

export async function kafkaStatus(opts: LocalKafkaOptions = {}): Promise<KafkaState> {
  const config = resolveKafkaConfig(opts);
  const pid = await brokerPidOf(config);
  if (pid === undefined) return { state: 'stopped', brokers: config.brokers, dir: config.dir };
  const brokers = runningBrokers(config) ?? config.brokers;
  const credentials = startedWithAuthentication(config) ? readCredentials(config) : undefined;
  const answers = await describeCluster(brokers, 2_000, credentials && superUser(credentials)).then(
    () => true,
    () => false,
  );
  return { state: answers ? 'running' : 'starting', brokers, dir: config.dir, pid };
}

/** The files of this dir's broker that hold secrets: readable by their owner only. */
export function localKafkaFiles(opts: LocalKafkaOptions = {}): {
  /** The principals' user names and passwords (made at the first start). */
  credentials: string;
  /** Client properties of the broker's super user, for Kafka's tools (--command-config). */
  adminClient: string;
  serverProperties: string;
} {
  const config = resolveKafkaConfig(opts);
  return {
    credentials: config.credentialsFile,
    adminClient: config.adminClientFile,
    serverProperties: config.propertiesFile,
  };
}

/** The principals of this dir's broker; it must have started once. */
export function localKafkaCredentials(opts: LocalKafkaOptions = {}): LocalKafkaCredentials {
  const config = resolveKafkaConfig(opts);
  if (!fs.existsSync(config.credentialsFile)) {
    throw new LocalKafkaError(
      `no Kafka credentials in ${config.credentialsFile} yet: start the broker first (npm run kafka:start)`,
    );
  }
  return readCredentials(config);
}

/** What Dolly's apps need in their environment to use this dir's broker as Dolly's principal. */
export function localKafkaClientEnv(opts: LocalKafkaOptions = {}): Record<string, string> {
  const config = resolveKafkaConfig(opts);
  const { dolly } = localKafkaCredentials(opts);
  return {
    KAFKA_BROKERS: config.brokers,
    KAFKA_SASL_MECHANISM: LOCAL_KAFKA_SASL_MECHANISM,
    KAFKA_SASL_USERNAME: dolly.username,
    KAFKA_SASL_PASSWORD: dolly.password,
  };
}

/**
 * Lets the integrator principal read the event topics of the installation with this prefix
 * (DOLLY_KAFKA_PREFIX), as an operator grants read access to an integrator.
 */
export async function allowIntegratorToConsume(
  prefix: string,
  opts: LocalKafkaOptions = {},
): Promise<void> {
  const config = resolveKafkaConfig(opts);
  const credentials = localKafkaCredentials(opts);
  await withAdmin(config.brokers, superUser(credentials), (admin) =>
    admin.createAcls({ acl: integratorAcls(credentials, prefix) }),
  );
}

/** Takes back what allowIntegratorToConsume granted for this prefix (its event topics only). */
export async function revokeIntegratorConsuming(
  prefix: string,
  opts: LocalKafkaOptions = {},
): Promise<void> {
  if (!prefix) throw new Error('The unprefixed installation keeps its integrator');
  const config = resolveKafkaConfig(opts);
  const credentials = localKafkaCredentials(opts);
  const topicAcls = integratorAcls(credentials, prefix).filter(
    (acl) => acl.resourceType === AclResourceTypes.TOPIC,
  );
  await withAdmin(config.brokers, superUser(credentials), (admin) =>
    admin.deleteAcls({ filters: topicAcls }),
  );
}

/** Resolves the broker jars with Maven once per version; returns their directory. */
export async function ensureKafkaJars(opts: LocalKafkaOptions = {}): Promise<string> {
  const config = resolveKafkaConfig(opts);
  // Kafka's own tools (kafka-configs) came later than the broker jars: a dir without them is resolved again.
  const complete = () =>
    fs.existsSync(path.join(config.jarsDir, '.complete')) &&
    fs.existsSync(path.join(config.jarsDir, `kafka-tools-${config.version}.jar`));
  if (complete()) return config.jarsDir;
  fs.mkdirSync(JARS_ROOT, { recursive: true });
  return withLock(`${config.jarsDir}.lock`, 15 * 60_000, async () => {
    if (complete()) return config.jarsDir;
    requireTool(
      'mvn',
      ['-v'],
      'Maven (mvn) is needed once to fetch the Kafka jars: apt-get install maven',
    );
    config.log(
      `resolving Kafka ${config.version} jars with Maven into ${path.relative(REPO_ROOT, config.jarsDir)}`,
    );
    // Maven writes into a scratch dir that is renamed at the end: an interrupted run never leaves
    // a half-filled jars dir that looks complete.
    const scratch = `${config.jarsDir}.partial`;
    fs.rmSync(scratch, { recursive: true, force: true });
    const args = [
      '-B',
      '-q',
      '-f',
      POM_PATH,
      'dependency:copy-dependencies',
      `-Dkafka.version=${config.version}`,
      `-DoutputDirectory=${scratch}`,
    ];
    if (config.version.startsWith('3.')) args.push('-Dkafka.log4j1');
    const result = await run('mvn', args, REPO_ROOT);
    if (result.code !== 0) {
      throw new LocalKafkaError(
        `mvn could not resolve Kafka ${config.version} (exit ${result.code}):\n${lastLines(result.output, 30)}`,
      );
    }
    fs.writeFileSync(path.join(scratch, '.complete'), `${new Date().toISOString()}\n`);
    fs.rmSync(config.jarsDir, { recursive: true, force: true });
    fs.renameSync(scratch, config.jarsDir);
    return config.jarsDir;
  });
}

// ---------------------------------------------------------------------------------------------
// Configuring, formatting and spawning

function writeServerProperties(config: LocalKafkaConfig, credentials: LocalKafkaCredentials): void {
  const listenerHost = '127.0.0.1';
  const { broker, dolly, integrator } = credentials;
  const properties: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': BROKER_NODE_ID,
    // A static voter set (not KIP-853's dynamic quorum): the controller port may change between
    // runs without re-formatting.
    'controller.quorum.voters': `${BROKER_NODE_ID}@${listenerHost}:${config.controllerPort}`,
    listeners: `CLIENT://${listenerHost}:${config.port},CONTROLLER://${listenerHost}:${config.controllerPort}`,
    'advertised.listeners': `CLIENT://${listenerHost}:${config.port}`,
    // Both listeners demand SASL: nothing answers a client that has no credentials.
    'listener.security.protocol.map': 'CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'CLIENT',
    'log.dirs': config.dataDir,

    // Clients log in with SCRAM (users in the cluster metadata, made at format time), Dolly's apps
    // among them. The broker's own principal logs in with PLAIN against this file's password:
    // KRaft controllers cannot use SCRAM, and the broker must log in before any SCRAM user exists
    // (an upgraded data dir). On this loopback-only listener PLAIN also takes Dolly's and the
    // integrator's passwords: librdkafka before 2.6.1 (Debian 12's kcat) fails SCRAM against
    // Kafka 4 (its client-final nonce, librdkafka#4895), and PLAIN is what it can use.
    'sasl.enabled.mechanisms': `${SCRAM_MECHANISM},PLAIN`,
    'listener.name.client.scram-sha-512.sasl.jaas.config':
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.client.plain.sasl.jaas.config': plainLogin(broker, [broker, dolly, integrator]),
    'listener.name.controller.sasl.enabled.mechanisms': 'PLAIN',
    'listener.name.controller.plain.sasl.jaas.config': plainLogin(broker, [broker]),
    'sasl.mechanism.inter.broker.protocol': 'PLAIN',
    'sasl.mechanism.controller.protocol': 'PLAIN',
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users': `User:${credentials.broker.username}`,
    'allow.everyone.if.no.acl.found': false,

    // One broker: every replication factor and ISR is 1, or internal topics never get created.
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    // Fewer internal partitions than the defaults (50): fewer files, faster start and recovery.
    'offsets.topic.num.partitions': 6,
    'transaction.state.log.num.partitions': 6,

    'num.partitions': 6,
    'auto.create.topics.enable': true,
    'delete.topic.enable': true,
    // Tests start consumers and expect assignments at once, not after the default 3 s.
    'group.initial.rebalance.delay.ms': 0,
    // After a hard kill the controller holds the dead broker's registration until its session
    // ends, and the restarted broker retries DUPLICATE_BROKER_REGISTRATION until then: 9 s by
    // default, 4 s here. Heartbeats go over loopback to the same JVM, so a short session is safe.
    'broker.session.timeout.ms': 4_000,
    'broker.heartbeat.interval.ms': 1_000,

    // A dev broker keeps a week, at most 256 MiB a partition, in 64 MiB segments.
    'log.retention.hours': 168,
    'log.retention.bytes': 256 * 1024 * 1024,
    'log.segment.bytes': 64 * 1024 * 1024,
    'log.retention.check.interval.ms': 5 * 60_000,

    // Sized for two cores.
    'num.network.threads': 2,
    'num.io.threads': 4,
    'num.recovery.threads.per.data.dir': 2,
    'background.threads': 4,
  };
  const text = Object.entries(properties)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
  // It holds the broker's password: its owner's eyes only, like credentials.json.
  writePrivateFile(
    config.propertiesFile,
    `# Written by tools/kafka/local-kafka.ts at every start; edit that file instead.\n${text}\n`,
  );
  writePrivateFile(
    config.adminClientFile,
    [
      `# The broker's own principal (a super user) for Kafka's tools: --command-config ${config.adminClientFile}`,
      `bootstrap.servers=${config.brokers}`,
      'security.protocol=SASL_PLAINTEXT',
      'sasl.mechanism=PLAIN',
      `sasl.jaas.config=${plainLogin(broker, [])}`,
      '',
    ].join('\n'),
  );
}

/** A JAAS line for SASL/PLAIN: who logs in, and (on a listener) whom it accepts. */
function plainLogin(login: KafkaPrincipal, accepted: KafkaPrincipal[]): string {
  const users = accepted.map((user) => ` user_${user.username}="${user.password}"`).join('');
  return `org.apache.kafka.common.security.plain.PlainLoginModule required username="${login.username}" password="${login.password}"${users};`;
}

/** True when the running broker's server.properties (written when it started) demands SASL. */
function startedWithAuthentication(config: LocalKafkaConfig): boolean {
  return /^sasl\.enabled\.mechanisms=/m.test(readIfExists(config.propertiesFile));
}

function formatStorageOnce(config: LocalKafkaConfig, credentials: LocalKafkaCredentials): void {
  if (fs.existsSync(path.join(config.dataDir, 'meta.properties'))) return;
  const clusterId = newClusterId();
  config.log(`formatting KRaft storage in ${config.dataDir} (cluster id ${clusterId})`);
  // The SCRAM users go into the first metadata records (KIP-900): they can log in at the first start.
  const scramUsers = [credentials.dolly, credentials.integrator].flatMap((principal) => [
    '--add-scram',
    `${SCRAM_MECHANISM}=[name=${principal.username},password=${principal.password}]`,
  ]);
  fs.mkdirSync(config.logsDir, { recursive: true });
  const result = spawnSync(
    'java',
    [
      ...loggingJvmArgs(config),
      '-XX:TieredStopAtLevel=1',
      '-cp',
      classPath(config),
      'kafka.tools.StorageTool',
      'format',
      '--cluster-id',
      clusterId,
      '--config',
      config.propertiesFile,
      ...scramUsers,
    ],
    { cwd: config.dir, encoding: 'utf8', timeout: 60_000 },
  );
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
    throw new LocalKafkaError(
      `kafka-storage format failed (exit ${result.status}):\n${lastLines(output, 30)}`,
    );
  }
}

/** A Kafka Uuid: 16 random bytes, base64url without padding (what `kafka-storage random-uuid` prints). */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    // Kafka's own generator skips ids starting with '-': a command line would read them as flags.
    if (!id.startsWith('-')) return id;
  }
}

// ---------------------------------------------------------------------------------------------
// Principals: credentials, SCRAM users and ACLs

/** The credentials of this dir, made at its first start: random passwords, readable by the owner only. */
function ensureCredentials(config: LocalKafkaConfig): LocalKafkaCredentials {
  if (fs.existsSync(config.credentialsFile)) {
    fs.chmodSync(config.credentialsFile, 0o600);
    return readCredentials(config);
  }
  const principal = (username: string): KafkaPrincipal => ({
    username,
    password: randomBytes(24).toString('hex'),
  });
  const credentials: LocalKafkaCredentials = {
    dolly: principal('dolly'),
    integrator: principal('integrator'),
    broker: principal('broker'),
  };
  writePrivateFile(config.credentialsFile, `${JSON.stringify(credentials, null, 2)}\n`);
  return credentials;
}

function readCredentials(config: LocalKafkaConfig): LocalKafkaCredentials {
  let credentials: Partial<Record<keyof LocalKafkaCredentials, Partial<KafkaPrincipal>>>;
  try {
    credentials = JSON.parse(fs.readFileSync(config.credentialsFile, 'utf8')) as typeof credentials;
  } catch (error) {
    throw new LocalKafkaError(
      `cannot read the Kafka credentials in ${config.credentialsFile} (${error instanceof Error ? error.message : String(error)}): delete the file and start the broker again to make new ones`,
    );
  }
  for (const name of ['dolly', 'integrator', 'broker'] as const) {
    const principal = credentials[name];
    if (typeof principal?.username !== 'string' || typeof principal.password !== 'string') {
      throw new LocalKafkaError(
        `${config.credentialsFile} has no user name and password for "${name}": delete the file and start the broker again to make new ones`,
      );
    }
  }
  return credentials as LocalKafkaCredentials;
}

/** Written through a private temporary file and renamed: never readable by others, never half-written. */
function writePrivateFile(file: string, content: string): void {
  const scratch = `${file}.${randomBytes(4).toString('hex')}.partial`;
  fs.writeFileSync(scratch, content, { mode: 0o600 });
  fs.renameSync(scratch, file);
}

function superUser(credentials: LocalKafkaCredentials): SASLOptions {
  return { mechanism: 'plain', ...credentials.broker };
}

function scram(principal: KafkaPrincipal): SASLOptions {
  return { mechanism: LOCAL_KAFKA_SASL_MECHANISM, ...principal };
}

/**
 * Makes sure the principals can log in and do what they should: grants the ACLs (granting an ACL
 * that exists changes nothing), then logs in as each SCRAM user. A data dir formatted before the
 * broker had authentication has no SCRAM users (and one whose credentials.json was replaced has
 * other passwords): those are set through the Admin API with Kafka's own kafka-configs, so the
 * topics, offsets and cluster id stay as they were.
 */
async function ensurePrincipals(
  config: LocalKafkaConfig,
  credentials: LocalKafkaCredentials,
): Promise<void> {
  // ACLs are not needed to log in: both at once, as every start waits for this.
  const [, refused] = await Promise.all([
    withAdmin(config.brokers, superUser(credentials), (admin) =>
      admin.createAcls({ acl: localAcls(credentials) }),
    ),
    principalsRefused(config, [credentials.dolly, credentials.integrator]),
  ]);
  if (refused.length === 0) return;
  config.log(
    `the data in ${config.dataDir} predates authentication (or credentials.json was replaced): adding the SCRAM users ${refused.map((p) => p.username).join(', ')} with Kafka's kafka-configs`,
  );
  for (const principal of refused) {
    // The password goes in a private file, not on a command line that `ps` shows. In a file the
    // value has no brackets (on the command line it is SCRAM-SHA-512=[password=...]).
    const configFile = path.join(config.dir, `scram-${principal.username}.properties`);
    writePrivateFile(configFile, `${SCRAM_MECHANISM}=password=${principal.password}\n`);
    try {
      const result = await runKafkaTool(
        configCommandClass(config.version),
        [
          '--bootstrap-server',
          config.brokers,
          '--command-config',
          config.adminClientFile,
          '--alter',
          '--entity-type',
          'users',
          '--entity-name',
          principal.username,
          '--add-config-file',
          configFile,
        ],
        config,
      );
      if (result.code !== 0) {
        throw new LocalKafkaError(
          `kafka-configs could not set the SCRAM user ${principal.username} (exit ${result.code}):\n${lastLines(result.output, 15).split(principal.password).join('***')}`,
        );
      }
    } finally {
      fs.rmSync(configFile, { force: true });
    }
  }
  // A new SCRAM credential reaches the broker's cache through the metadata log: moments, not more.
  const deadline = Date.now() + 15_000;
  let stillRefused = refused;
  while (stillRefused.length > 0 && Date.now() < deadline) {
    await sleep(POLL_INTERVAL_MS);
    stillRefused = await principalsRefused(config, refused);
  }
  if (stillRefused.length > 0) {
    throw new LocalKafkaError(
      `the broker still refuses ${stillRefused.map((p) => p.username).join(', ')} after kafka-configs set their SCRAM credentials; see ${brokerLogHint(config)}`,
    );
  }
}

/** The principals whose SCRAM login the broker refuses; any other failure is an error. */
async function principalsRefused(
  config: LocalKafkaConfig,
  principals: KafkaPrincipal[],
): Promise<KafkaPrincipal[]> {
  const refused = await Promise.all(
    principals.map((principal) =>
      describeCluster(config.brokers, 5_000, scram(principal)).then(
        () => false,
        (error: unknown) => {
          if (isAuthenticationFailure(error)) return true;
          throw error;
        },
      ),
    ),
  );
  return principals.filter((_, i) => refused[i]);
}

function isAuthenticationFailure(error: unknown): boolean {
  for (
    let cause = error;
    cause instanceof Error;
    cause = (cause as { originalError?: unknown }).originalError
  ) {
    if (cause.name === 'KafkaJSSASLAuthenticationError') return true;
  }
  return false;
}

function configCommandClass(version: string): string {
  // Kafka 4.0 moved kafka-configs from the Scala core to the tools module.
  return version.startsWith('3.')
    ? 'kafka.admin.ConfigCommand'
    : 'org.apache.kafka.tools.ConfigCommand';
}

/**
 * Who may do what on the local broker. It is Dolly's own broker, where each test file's
 * installation has topics and groups of its own prefix (DOLLY_KAFKA_PREFIX): Dolly's principal
 * gets every topic and group, not `dolly.`-prefixed ones only. The integrator reads the event
 * topics of the unprefixed installation (`npm start`'s); allowIntegratorToConsume adds a prefix's.
 */
function localAcls(credentials: LocalKafkaCredentials): AclEntry[] {
  const dolly = `User:${credentials.dolly.username}`;
  return [
    ...allow(dolly, AclResourceTypes.TOPIC, '*', ResourcePatternTypes.LITERAL, [
      AclOperationTypes.ALL,
    ]),
    ...allow(dolly, AclResourceTypes.GROUP, '*', ResourcePatternTypes.LITERAL, [
      AclOperationTypes.ALL,
    ]),
    // Creating topics, reading the cluster's metadata, and the idempotent producer's id.
    ...allow(dolly, AclResourceTypes.CLUSTER, 'kafka-cluster', ResourcePatternTypes.LITERAL, [
      AclOperationTypes.CREATE,
      AclOperationTypes.DESCRIBE,
      AclOperationTypes.IDEMPOTENT_WRITE,
    ]),
    ...integratorAcls(credentials, ''),
  ];
}

function integratorAcls(credentials: LocalKafkaCredentials, prefix: string): AclEntry[] {
  const integrator = `User:${credentials.integrator.username}`;
  return [
    ...allEventTopics(prefix).flatMap((topic) =>
      allow(integrator, AclResourceTypes.TOPIC, topic, ResourcePatternTypes.LITERAL, [
        AclOperationTypes.READ,
        AclOperationTypes.DESCRIBE,
      ]),
    ),
    ...allow(
      integrator,
      AclResourceTypes.GROUP,
      INTEGRATOR_GROUP_PREFIX,
      ResourcePatternTypes.PREFIXED,
      [AclOperationTypes.READ, AclOperationTypes.DESCRIBE],
    ),
  ];
}

function allow(
  principal: string,
  resourceType: AclResourceTypes,
  resourceName: string,
  resourcePatternType: ResourcePatternTypes,
  operations: AclOperationTypes[],
): AclEntry[] {
  return operations.map((operation) => ({
    principal,
    host: '*',
    resourceType,
    resourceName,
    resourcePatternType,
    operation,
    permissionType: AclPermissionTypes.ALLOW,
  }));
}

/** Runs one of Kafka's own command-line tools (kafka-configs, kafka-acls...) from the jars. */
export async function runKafkaTool(
  mainClass: string,
  args: string[],
  opts: LocalKafkaOptions | LocalKafkaConfig = {},
): Promise<{ code: number; output: string }> {
  const config = 'jarsDir' in opts ? opts : resolveKafkaConfig(opts);
  await ensureKafkaJars({ version: config.version });
  const logging = config.version.startsWith('3.')
    ? loggingJvmArgs(config)
    : [`-Dlog4j2.configurationFile=${path.join(__dirname, 'log4j2-tools.xml')}`];
  return run(
    'java',
    ['-XX:TieredStopAtLevel=1', ...logging, '-cp', classPath(config), mainClass, ...args],
    config.dir,
  );
}

function spawnBroker(config: LocalKafkaConfig, javaVersion: string): number {
  fs.mkdirSync(config.logsDir, { recursive: true });
  // The JVM's own stdout/stderr (start-up failures, crashes) land here; the broker logs elsewhere.
  const consoleLog = fs.openSync(path.join(config.logsDir, 'broker.out'), 'a');
  const jvmArgs = [
    `-Xmx${HEAP_MAX}`,
    '-Xms64m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent',
    // A broker out of heap is dead weight that still holds the port: let it die and say so.
    '-XX:+ExitOnOutOfMemoryError',
    // Start-up is what tests wait for, again at every restart: the C1 compiler alone starts the
    // broker about twice as fast on two cores, at a throughput cost a dev broker never notices
    // (a benchmark can put DOLLY_KAFKA_JVM_OPTS=-XX:TieredStopAtLevel=4 back).
    '-XX:TieredStopAtLevel=1',
    ...classDataSharingArgs(config, javaVersion),
    '-XX:-UsePerfData',
    '-Djava.awt.headless=true',
    // Broker threads still log while the JVM exits; log4j's own shutdown hook then only adds a
    // warning per stop to broker.out.
    '-Dlog4j2.shutdownHookEnabled=false',
    `-Xlog:gc:file=${path.join(config.logsDir, 'gc.log')}:time,tags:filecount=2,filesize=5M`,
    ...loggingJvmArgs(config),
    ...config.jvmOptions,
    '-cp',
    classPath(config),
    'kafka.Kafka',
    config.propertiesFile,
  ];
  const child = spawn('java', jvmArgs, {
    cwd: config.dir,
    detached: true,
    stdio: ['ignore', consoleLog, consoleLog],
  });
  fs.closeSync(consoleLog);
  // A failed exec is reported below through the missing pid; unhandled, the 'error' event that
  // follows it would crash the caller instead.
  child.once('error', () => undefined);
  if (child.pid === undefined) {
    throw new LocalKafkaError('could not spawn java for the Kafka broker');
  }
  // Detached and unreferenced: the broker outlives a CLI call or a test run that started it.
  child.unref();
  fs.writeFileSync(config.pidFile, `${child.pid}\n`);
  config.log(`started Kafka ${config.version} broker pid ${child.pid} on ${config.brokers}`);
  return child.pid;
}

function loggingJvmArgs(config: LocalKafkaConfig): string[] {
  const logsDir = `-Dkafka.logs.dir=${config.logsDir}`;
  return config.version.startsWith('3.')
    ? [logsDir, `-Dlog4j.configuration=file:${path.join(__dirname, 'log4j.properties')}`]
    : [logsDir, `-Dlog4j2.configurationFile=${path.join(__dirname, 'log4j2.xml')}`];
}

/**
 * The jars one by one in a fixed order, not `dir/*`: a class-data-sharing archive is only used
 * when the class path matches the one it was dumped with, and a wildcard's order is the
 * directory's.
 */
function classPath(config: LocalKafkaConfig): string {
  return fs
    .readdirSync(config.jarsDir)
    .filter((file) => file.endsWith('.jar'))
    .sort()
    .map((file) => path.join(config.jarsDir, file))
    .join(path.delimiter);
}

/**
 * AppCDS: the first broker of a jars dir dumps the classes it loaded into an archive when it
 * exits, and later starts map that archive instead of parsing ~40 MB of jars again (about 1.5 s of
 * a start on two cores). The archive's name hashes the Java version and the class path, so a new
 * JDK or moved jars get a new archive; one that still does not match is ignored by the JVM
 * (-Xshare:auto), never fatal. CDS messages are silenced: they are noise in broker.out.
 */
function classDataSharingArgs(config: LocalKafkaConfig, javaVersion: string): string[] {
  const archive = classDataArchive(config, javaVersion);
  const quiet = '-Xlog:cds*=off';
  if (fs.existsSync(archive)) return [`-XX:SharedArchiveFile=${archive}`, quiet];
  // Each broker dir dumps to its own file; stopKafka moves it next to the jars once the JVM has
  // exited, so two brokers stopping at once never write the same archive.
  fs.writeFileSync(path.join(config.dir, 'cds-archive-target'), `${archive}\n`);
  return [`-XX:ArchiveClassesAtExit=${path.join(config.dir, 'cds-dump.jsa')}`, quiet];
}

function classDataArchive(config: LocalKafkaConfig, javaVersion: string): string {
  const fingerprint = createHash('sha256')
    .update(`${javaVersion}\n${classPath(config)}`)
    .digest('hex')
    .slice(0, 12);
  return path.join(config.jarsDir, `broker-cds-${fingerprint}.jsa`);
}

function adoptClassDataArchive(config: LocalKafkaConfig): void {
  const dump = path.join(config.dir, 'cds-dump.jsa');
  const targetFile = path.join(config.dir, 'cds-archive-target');
  const target = readIfExists(targetFile).trim();
  try {
    if (target !== '' && fs.existsSync(dump) && !fs.existsSync(target)) {
      // Copy then rename: the dir may be on another file system than the jars, and a reader must
      // never see half an archive.
      const scratch = `${target}.${randomBytes(4).toString('hex')}.partial`;
      fs.copyFileSync(dump, scratch);
      fs.renameSync(scratch, target);
      config.log(`saved a class-data-sharing archive for faster starts: ${target}`);
    }
  } finally {
    fs.rmSync(dump, { force: true });
    fs.rmSync(targetFile, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Finding, probing and waiting

/**
 * The pid of the broker that serves this dir, or undefined. Trusts the pid file only when that
 * process is alive and its command line names this dir's server.properties (pids are reused);
 * without a pid file it looks through /proc, so a broker whose pid file was lost can still stop.
 */
async function brokerPidOf(config: LocalKafkaConfig): Promise<number | undefined> {
  const fromFile = readPidFile(config.pidFile);
  if (fromFile !== undefined && isOurBroker(fromFile, config)) return fromFile;
  if (!fs.existsSync('/proc')) return undefined;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (isOurBroker(pid, config)) {
      fs.writeFileSync(config.pidFile, `${pid}\n`);
      return pid;
    }
  }
  return undefined;
}

function readPidFile(pidFile: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isOurBroker(pid: number, config: LocalKafkaConfig): boolean {
  if (!processAlive(pid)) return false;
  try {
    const commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return commandLine.includes('kafka.Kafka') && commandLine.includes(config.propertiesFile);
  } catch {
    // No /proc (not Linux): the live pid from our own pid file is the best evidence there is.
    return !fs.existsSync('/proc');
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A child of this very process that exited but was not reaped yet still answers signal 0.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return fs.existsSync('/proc') ? false : true;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await sleep(POLL_INTERVAL_MS);
  }
  return !processAlive(pid);
}

async function waitUntilReady(
  config: LocalKafkaConfig,
  pid: number,
  credentials: LocalKafkaCredentials,
): Promise<void> {
  const brokers = runningBrokers(config) ?? config.brokers;
  const deadline = Date.now() + config.startTimeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (!processAlive(pid)) {
      throw new LocalKafkaError(
        `Kafka broker pid ${pid} exited during start-up; see ${brokerLogHint(config)}\n${lastLines(readIfExists(path.join(config.logsDir, 'broker.out')), 15)}`,
        /Address already in use/.test(readIfExists(path.join(config.logsDir, 'server.log'))),
      );
    }
    if (await portAnswers(config.port)) {
      try {
        await describeCluster(brokers, 3_000, superUser(credentials));
        return;
      } catch (error) {
        if (isAuthenticationFailure(error)) {
          throw new LocalKafkaError(
            `the Kafka broker pid ${pid} on ${brokers} refuses the broker password in ${config.credentialsFile} (was the file replaced while it ran?): restart it with npm run kafka:stop && npm run kafka:start`,
          );
        }
        lastError = error instanceof Error ? error.message : String(error);
      }
    }
    await sleep(250);
  }
  throw new LocalKafkaError(
    `Kafka broker pid ${pid} did not answer on ${brokers} within ${config.startTimeoutMs} ms (${lastError}); see ${brokerLogHint(config)}`,
  );
}

/** The brokers a running broker was started with: the port in its server.properties. */
function runningBrokers(config: LocalKafkaConfig): string | undefined {
  const match = /^advertised\.listeners=[A-Z_]+:\/\/([^,\s]+)$/m.exec(
    readIfExists(config.propertiesFile),
  );
  return match?.[1];
}

function assertSamePort(config: LocalKafkaConfig): void {
  const brokers = runningBrokers(config);
  if (brokers !== undefined && brokers !== config.brokers) {
    throw new LocalKafkaError(
      `the Kafka broker of ${config.dir} already runs on ${brokers}, not ${config.brokers}: stop it first (npm run kafka:stop)`,
    );
  }
}

async function assertPortsFree(config: LocalKafkaConfig): Promise<void> {
  for (const port of [config.port, config.controllerPort]) {
    if (await portAnswers(port)) {
      throw new LocalKafkaError(
        `port ${port} on 127.0.0.1 is taken by another process (not the broker of ${config.dir}); set DOLLY_KAFKA_PORT to another port`,
      );
    }
  }
}

async function describeCluster(
  brokers: string,
  timeoutMs: number,
  sasl: SASLOptions | undefined,
): Promise<void> {
  await withAdmin(
    brokers,
    sasl,
    async (admin) => {
      const cluster = await admin.describeCluster();
      // The controller id is only known once the broker has registered with the KRaft quorum.
      if (cluster.brokers.length === 0 || cluster.controller === null || cluster.controller < 0) {
        throw new Error('broker has not registered with the controller yet');
      }
    },
    timeoutMs,
  );
}

async function withAdmin<T>(
  brokers: string,
  sasl: SASLOptions | undefined,
  action: (admin: Admin) => Promise<T>,
  timeoutMs = 10_000,
): Promise<T> {
  const kafka = new Kafka({
    clientId: 'dolly-local-kafka',
    brokers: [brokers],
    ...(sasl ? { sasl } : {}),
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    // Refused connections are expected while the broker boots; they are not worth a log line.
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await action(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (answers: boolean) => {
      socket.destroy();
      resolve(answers);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

function brokerLogHint(config: LocalKafkaConfig): string {
  return `${path.join(config.logsDir, 'server.log')} and ${path.join(config.logsDir, 'broker.out')}`;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** Fails with one clear line without Java 17+; returns the full `java -version` text. */
function requireJava(): string {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (result.error !== undefined) {
    throw new LocalKafkaError(
      'Java not found: the local Kafka broker needs a Java 17+ runtime on PATH (apt-get install openjdk-17-jre-headless)',
    );
  }
  const versionText = `${result.stderr ?? ''}${result.stdout ?? ''}`;
  const major = /version "(\d+)/.exec(versionText)?.[1];
  if (major !== undefined && Number(major) < 17) {
    throw new LocalKafkaError(`Java ${major} found: the local Kafka broker needs Java 17 or newer`);
  }
  return versionText.trim();
}

function requireTool(command: string, args: string[], missingMessage: string): void {
  if (spawnSync(command, args, { stdio: 'ignore' }).error !== undefined)
    throw new LocalKafkaError(missingMessage);
}

function run(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/**
 * Runs `action` while holding a lock directory (mkdir is atomic). A lock whose owner died is
 * taken over, so a killed test run never blocks the next one.
 */
async function withLock<T>(
  lockDir: string,
  timeoutMs: number,
  action: () => Promise<T>,
): Promise<T> {
  const ownerFile = path.join(lockDir, 'owner');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(ownerFile, `${process.pid}\n`);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readPidFile(ownerFile);
      if (owner !== undefined && !processAlive(owner)) {
        fs.rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new LocalKafkaError(
          `timed out waiting for ${lockDir} (held by pid ${owner ?? 'unknown'})`,
        );
      await sleep(200);
    }
  }
  try {
    return await action();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

function readIfExists(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// CLI

async function main(command: string | undefined): Promise<number> {
  const opts: LocalKafkaOptions = { log: (line) => console.error(`kafka: ${line}`) };
  const config = resolveKafkaConfig(opts);
  switch (command) {
    case 'start':
    case 'restart': {
      if (command === 'restart' && (await stopKafka(opts))) console.log('kafka: stopped');
      const { brokers, startedHere } = await ensureKafkaRunning(opts);
      console.log(
        `kafka: ${startedHere ? 'started' : 'already running'} on ${brokers} (Kafka ${config.version}, ${config.dir})`,
      );
      return 0;
    }
    case 'stop':
      console.log((await stopKafka(opts)) ? 'kafka: stopped' : 'kafka: was not running');
      return 0;
    case 'status': {
      const status = await kafkaStatus(opts);
      const where = status.state === 'stopped' ? '' : ` on ${status.brokers} (pid ${status.pid})`;
      console.log(`kafka: ${status.state}${where}, data in ${status.dir}`);
      // LSB's "program is not running" code, so scripts can test it.
      return status.state === 'running' ? 0 : 3;
    }
    case 'jars':
      console.log(await ensureKafkaJars(opts));
      return 0;
    default:
      console.error('usage: tsx tools/kafka/local-kafka.ts start|stop|status|restart|jars');
      return 2;
  }
}

if (require.main === module) {
  main(process.argv[2]).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(
        `kafka: ${error instanceof Error && error.name === 'LocalKafkaError' ? error.message : error instanceof Error ? error.stack : String(error)}`,
      );
      process.exit(1);
    },
  );
}
