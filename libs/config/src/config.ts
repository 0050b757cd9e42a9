/**
 * Dolly's settings, from the environment, with defaults that run the local stack: PostgreSQL on
 * 127.0.0.1:5432 as postgres, and the project's own Kafka broker on 127.0.0.1:19092.
 */
import { delimiter, isAbsolute, normalize } from 'node:path';
import { readFileSync } from 'node:fs';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/dolly';
export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:19092';

export const APP_NAMES = ['api', 'projector', 'worker'] as const;
export type AppName = (typeof APP_NAMES)[number];
/** The SASL mechanisms kafkajs speaks with a user name and password. */
export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

export interface KafkaSaslSettings {
  mechanism: KafkaSaslMechanism;
  username: string;
  password: string;
}

/** TLS to the brokers, PEM contents; without `ca` the system's trusted CAs apply. */
export interface KafkaTlsSettings {
  ca?: string;
  cert?: string;
  key?: string;
}

export interface DollyConfig {
  /** What this app connects with (DATABASE_URL); for `npm start` and `npm run migrate`, the server and database. */
  databaseUrl: string;
  /** Who migrates, as the owner (DATABASE_MIGRATION_URL); unset: DATABASE_URL's server as dolly_owner. */
  databaseMigrationUrl: string | undefined;
  /** A superuser who makes Dolly's roles and database before migrating (DATABASE_ADMIN_URL). */
  databaseAdminUrl: string | undefined;
  /** `npm start`: each app's own connection (DOLLY_API_DATABASE_URL, ...); unset: its login role. */
  appDatabaseUrls: Partial<Record<AppName, string>>;
  kafkaBrokers: string[];
  /** SASL authentication to Kafka: KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD. */
  kafkaSasl?: KafkaSaslSettings;
  /** TLS to Kafka: KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SSL_CERT_FILE, KAFKA_SSL_KEY_FILE. */
  kafkaTls?: KafkaTlsSettings;
  /** Prepended to every topic and consumer group: lets installations and test runs share a broker. */
  kafkaPrefix: string;
  /** Whether KAFKA_BROKERS / DATABASE_URL came from the environment (external services). */
  externalKafka: boolean;
  externalDatabase: boolean;
  apiPort: number;
  projectorPort: number;
  workerPort: number;
  logLevel: string;
  /**
   * The folders datastores may live in (DOLLY_DATASTORE_ROOTS, separated like PATH): a datastore's
   * folder lies strictly inside one. None: no datastore can be registered or served.
   */
  datastoreRoots: string[];
  /**
   * The folders OVF packages may be imported from by path (DOLLY_IMPORT_ROOTS, separated like
   * PATH), confined as datastores are: a package lies strictly inside one. None: imports by path
   * are refused (uploads still work).
   */
  importRoots: string[];
  /** Imports refuse a package whose manifest is not signed (DOLLY_IMPORT_REQUIRE_CERTIFICATE=true). */
  importRequireCertificate: boolean;
  /**
   * PEM files of the CAs a package's signing certificate must chain to (DOLLY_IMPORT_TRUSTED_CA_FILES,
   * separated like PATH); none: any certificate whose signature over the manifest verifies.
   */
  importTrustedCaFiles: string[];
  /**
   * Where the API reaches this worker to move a package's bytes (DOLLY_WORKER_TRANSFER_URL);
   * null: the port this worker listens on, on 127.0.0.1 (the API on the same machine).
   */
  workerTransferUrl: string | null;
  /**
   * How long a worker keeps a transfer open for the API's request (DOLLY_TRANSFER_WAIT_MS): an
   * import's upload or an export's download that does not come by then fails the task. In ms.
   */
  transferWaitMs: number;
  /** Bounded work per request: see {@link ApiLimits}. */
  apiLimits: ApiLimits;
  /** The largest event the store takes, as a Kafka message (DOLLY_EVENT_MAX_BYTES). In bytes. */
  eventMaxBytes: number;
  /**
   * PostgreSQL ends a Dolly session left idle inside a transaction this long
   * (DOLLY_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS; 0: never): an open transaction holds the relay back.
   */
  pgIdleInTransactionTimeoutMs: number;
  /** How long the relay may be held back by an open transaction before it says so (DOLLY_RELAY_HELD_BACK_WARNING_MS). */
  relayHeldBackWarningMs: number;
  /**
   * A datastore a worker cannot open is tried again after DOLLY_WORKER_DATASTORE_RETRY_MIN_MS,
   * the pause doubling at each failure up to DOLLY_WORKER_DATASTORE_RETRY_MAX_MS.
   */
  datastoreRetryMinMs: number;
  datastoreRetryMaxMs: number;
  /** DOLLY_CHECK_IMAGE_TIMEOUT_MS: a qemu-img run in check taking longer gives no answer. */
  checkImageTimeoutMs: number;
  /**
   * A job still queued this long after it was placed is sent to the workers again
   * (DOLLY_JOB_REDELIVER_AFTER_MS), then again at doubling pauses up to ten times that.
   */
  jobRedeliverAfterMs: number;
  /**
   * The Ed25519 private key (PKCS#8 PEM) the projector signs checkpoints of the event chain with
   * (DOLLY_AUDIT_SIGNING_KEY or DOLLY_AUDIT_SIGNING_KEY_FILE); unset: no checkpoints are signed.
   */
  auditSigningKey: string | undefined;
  /** How often the projector signs the chain's head, when it moved (DOLLY_AUDIT_CHECKPOINT_SECONDS). */
  auditCheckpointSeconds: number;
  /**
   * PEM files of the Ed25519 public keys checkpoints are verified with (DOLLY_AUDIT_PUBLIC_KEY_FILES,
   * separated like PATH); the signing key's public half counts too, where it is set.
   */
  auditPublicKeyFiles: string[];
}

/**
 * What one principal, and everyone together, may hold open or send to the API. Past a limit the
 * API answers 429 with Retry-After.
 */
export interface ApiLimits {
  /** Open progress streams and `Prefer: wait` requests of one principal (DOLLY_API_MAX_WAITS_PER_PRINCIPAL). */
  maxWaitsPerPrincipal: number;
  /** Open progress streams and `Prefer: wait` requests in all (DOLLY_API_MAX_WAITS). */
  maxWaits: number;
  /** Commands per second a principal may send, sustained (DOLLY_API_COMMANDS_PER_SECOND); 0: no limit. */
  commandsPerSecond: number;
  /** Commands a principal may send at once, above the sustained rate (DOLLY_API_COMMAND_BURST). */
  commandBurst: number;
  /** A progress stream is closed after this long; the client opens it again (DOLLY_API_STREAM_MAX_SECONDS). */
  streamMaxSeconds: number;
}

function whole(env: NodeJS.ProcessEnv, name: string, fallback: number, minimum = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw new Error(`${name} must be a whole number of at least ${minimum}, not '${raw}'`);
  }
  return value;
}

function apiLimits(env: NodeJS.ProcessEnv): ApiLimits {
  return {
    maxWaitsPerPrincipal: whole(env, 'DOLLY_API_MAX_WAITS_PER_PRINCIPAL', 200),
    maxWaits: whole(env, 'DOLLY_API_MAX_WAITS', 1000),
    commandsPerSecond: whole(env, 'DOLLY_API_COMMANDS_PER_SECOND', 200, 0),
    commandBurst: whole(env, 'DOLLY_API_COMMAND_BURST', 400),
    streamMaxSeconds: whole(env, 'DOLLY_API_STREAM_MAX_SECONDS', 3600),
  };
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`${name} must be a TCP port number (0-65535), not '${raw}'`);
  }
  return value;
}

function datastoreRoots(raw: string | undefined): string[] {
  return absoluteFolders('DOLLY_DATASTORE_ROOTS', raw);
}

function transferUrl(env: NodeJS.ProcessEnv): string | null {
  const raw = env.DOLLY_WORKER_TRANSFER_URL;
  if (!raw) return null;
  if (!/^https?:\/\/[^/]+$/.test(raw.replace(/\/+$/, '')))
    throw new Error(
      `DOLLY_WORKER_TRANSFER_URL must be http(s)://host[:port] with no path, not '${raw}'`,
    );
  return raw.replace(/\/+$/, '');
}

/** Absolute paths separated like PATH (normalised, no trailing slash), or one error naming each bad one. */
function absoluteFolders(name: string, raw: string | undefined): string[] {
  const roots = (raw ?? '')
    .split(delimiter)
    .map((root) => root.trim())
    .filter(Boolean);
  const relative = roots.filter((root) => !isAbsolute(root));
  if (relative.length > 0)
    throw new Error(
      `${name} must list absolute paths (separated by '${delimiter}'), not ${relative.map((r) => `'${r}'`).join(', ')}`,
    );
  return roots.map((root) => (root === '/' ? root : normalize(root).replace(/\/+$/, '')));
}

function datastoreRetry(env: NodeJS.ProcessEnv) {
  const datastoreRetryMinMs = whole(env, 'DOLLY_WORKER_DATASTORE_RETRY_MIN_MS', 2_000);
  const datastoreRetryMaxMs = whole(env, 'DOLLY_WORKER_DATASTORE_RETRY_MAX_MS', 300_000);
  if (datastoreRetryMaxMs < datastoreRetryMinMs)
    throw new Error(
      `DOLLY_WORKER_DATASTORE_RETRY_MAX_MS (${datastoreRetryMaxMs}) must not be below DOLLY_WORKER_DATASTORE_RETRY_MIN_MS (${datastoreRetryMinMs})`,
    );
  return { datastoreRetryMinMs, datastoreRetryMaxMs };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): DollyConfig {
  const brokers = (env.KAFKA_BROKERS || DEFAULT_KAFKA_BROKERS)
    .split(',')
    .map((broker) => broker.trim())
    .filter(Boolean);
  return {
    databaseUrl: env.DATABASE_URL || DEFAULT_DATABASE_URL,
    databaseMigrationUrl: env.DATABASE_MIGRATION_URL || undefined,
    databaseAdminUrl: env.DATABASE_ADMIN_URL || undefined,
    appDatabaseUrls: Object.fromEntries(
      APP_NAMES.flatMap((app) => {
        const url = env[`DOLLY_${app.toUpperCase()}_DATABASE_URL`];
        return url ? [[app, url]] : [];
      }),
    ),
    kafkaBrokers: brokers,
    ...loadKafkaSecurity(env),
    kafkaPrefix: env.DOLLY_KAFKA_PREFIX ?? '',
    externalKafka: Boolean(env.KAFKA_BROKERS),
    externalDatabase: Boolean(env.DATABASE_URL),
    apiPort: port(env, 'DOLLY_API_PORT', 8080),
    projectorPort: port(env, 'DOLLY_PROJECTOR_PORT', 8081),
    workerPort: port(env, 'DOLLY_WORKER_PORT', 8082),
    logLevel: env.DOLLY_LOG_LEVEL || 'info',
    datastoreRoots: datastoreRoots(env.DOLLY_DATASTORE_ROOTS),
    importRoots: absoluteFolders('DOLLY_IMPORT_ROOTS', env.DOLLY_IMPORT_ROOTS),
    importRequireCertificate: env.DOLLY_IMPORT_REQUIRE_CERTIFICATE === 'true',
    importTrustedCaFiles: absoluteFolders(
      'DOLLY_IMPORT_TRUSTED_CA_FILES',
      env.DOLLY_IMPORT_TRUSTED_CA_FILES,
    ),
    workerTransferUrl: transferUrl(env),
    transferWaitMs: whole(env, 'DOLLY_TRANSFER_WAIT_MS', 120_000, 1),
    apiLimits: apiLimits(env),
    // At least a block map part (256 KiB) with its envelope.
    eventMaxBytes: whole(env, 'DOLLY_EVENT_MAX_BYTES', 1_000_000, 300_000),
    pgIdleInTransactionTimeoutMs: whole(env, 'DOLLY_PG_IDLE_IN_TRANSACTION_TIMEOUT_MS', 60_000, 0),
    relayHeldBackWarningMs: whole(env, 'DOLLY_RELAY_HELD_BACK_WARNING_MS', 30_000, 0),
    ...datastoreRetry(env),
    checkImageTimeoutMs: whole(env, 'DOLLY_CHECK_IMAGE_TIMEOUT_MS', 120_000),
    jobRedeliverAfterMs: whole(env, 'DOLLY_JOB_REDELIVER_AFTER_MS', 60_000, 1_000),
    ...loadAuditKeys(env),
  };
}

function loadAuditKeys(
  env: NodeJS.ProcessEnv,
): Pick<DollyConfig, 'auditSigningKey' | 'auditCheckpointSeconds' | 'auditPublicKeyFiles'> {
  const problems: string[] = [];
  const auditSigningKey = secret(env, 'DOLLY_AUDIT_SIGNING_KEY', problems);
  if (problems.length > 0)
    throw new Error(`Audit settings are not valid:\n- ${problems.join('\n- ')}`);
  return {
    auditSigningKey,
    auditCheckpointSeconds: whole(env, 'DOLLY_AUDIT_CHECKPOINT_SECONDS', 60, 1),
    auditPublicKeyFiles: absoluteFolders(
      'DOLLY_AUDIT_PUBLIC_KEY_FILES',
      env.DOLLY_AUDIT_PUBLIC_KEY_FILES,
    ),
  };
}

/**
 * SASL and TLS to Kafka. Every problem is reported at once, in one error: a service that will not
 * start should say everything that is wrong with its settings the first time.
 */
function loadKafkaSecurity(env: NodeJS.ProcessEnv): {
  kafkaSasl?: KafkaSaslSettings;
  kafkaTls?: KafkaTlsSettings;
} {
  const problems: string[] = [];
  const kafkaSasl = loadKafkaSasl(env, problems);
  const kafkaTls = loadKafkaTls(env, problems);
  if (problems.length > 0) {
    throw new Error(`Kafka settings are not valid:\n- ${problems.join('\n- ')}`);
  }
  return {
    ...(kafkaSasl ? { kafkaSasl } : {}),
    ...(kafkaTls ? { kafkaTls } : {}),
  };
}

function loadKafkaSasl(env: NodeJS.ProcessEnv, problems: string[]): KafkaSaslSettings | undefined {
  const rawMechanism = env.KAFKA_SASL_MECHANISM ?? '';
  const username = secret(env, 'KAFKA_SASL_USERNAME', problems);
  const password = secret(env, 'KAFKA_SASL_PASSWORD', problems);
  if (rawMechanism === '') {
    const given = [
      ['KAFKA_SASL_USERNAME', username],
      ['KAFKA_SASL_PASSWORD', password],
    ].filter(([, value]) => value !== undefined);
    if (given.length > 0) {
      problems.push(
        `${given.map(([name]) => name).join(' and ')} ${given.length > 1 ? 'are' : 'is'} set but KAFKA_SASL_MECHANISM is not: set it to ${KAFKA_SASL_MECHANISMS.join(', ')}`,
      );
    }
    return undefined;
  }
  const mechanism = KAFKA_SASL_MECHANISMS.find((known) => known === rawMechanism.toLowerCase());
  if (!mechanism) {
    problems.push(
      `KAFKA_SASL_MECHANISM must be one of ${KAFKA_SASL_MECHANISMS.join(', ')}, not '${rawMechanism}'`,
    );
  }
  if (username === undefined) {
    problems.push(`KAFKA_SASL_USERNAME or KAFKA_SASL_USERNAME_FILE is required with SASL`);
  }
  if (password === undefined) {
    problems.push(`KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE is required with SASL`);
  }
  if (!mechanism || username === undefined || password === undefined) return undefined;
  return { mechanism, username, password };
}

/** NAME, or the contents of the file NAME_FILE (for secrets mounted as files), trailing newlines off. */
function secret(env: NodeJS.ProcessEnv, name: string, problems: string[]): string | undefined {
  const direct = env[name] || undefined;
  const fileName = `${name}_FILE`;
  const file = env[fileName] || undefined;
  if (direct !== undefined && file !== undefined) {
    problems.push(`set ${name} or ${fileName}, not both`);
    return undefined;
  }
  if (file === undefined) return direct;
  const contents = readSettingFile(fileName, file, problems)?.replace(/[\r\n]+$/, '');
  if (contents === '') {
    problems.push(`${fileName}: ${file} is empty`);
    return undefined;
  }
  return contents;
}

function readSettingFile(name: string, file: string, problems: string[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    problems.push(`${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code})`);
    return undefined;
  }
}

const KAFKA_SSL_VALUES: Record<string, boolean | undefined> = {
  true: true,
  '1': true,
  false: false,
  '0': false,
  '': undefined,
};

const TLS_FILES = {
  ca: 'KAFKA_SSL_CA_FILE',
  cert: 'KAFKA_SSL_CERT_FILE',
  key: 'KAFKA_SSL_KEY_FILE',
} as const;

function loadKafkaTls(env: NodeJS.ProcessEnv, problems: string[]): KafkaTlsSettings | undefined {
  const rawSsl = (env.KAFKA_SSL ?? '').toLowerCase();
  if (!Object.hasOwn(KAFKA_SSL_VALUES, rawSsl)) {
    problems.push(`KAFKA_SSL must be true or false, not '${env.KAFKA_SSL}'`);
    return undefined;
  }
  const ssl = KAFKA_SSL_VALUES[rawSsl];
  const given = Object.values(TLS_FILES).filter((name) => env[name]);
  if (ssl === false && given.length > 0) {
    problems.push(
      `${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} set but KAFKA_SSL is false: unset ${given.length > 1 ? 'them' : 'it'} or set KAFKA_SSL=true`,
    );
  }
  if (Boolean(env[TLS_FILES.cert]) !== Boolean(env[TLS_FILES.key])) {
    problems.push(
      `${TLS_FILES.cert} and ${TLS_FILES.key} go together: a client certificate needs its key`,
    );
  }
  // A CA or a client certificate only means anything over TLS: giving one turns TLS on.
  if (ssl === false || (ssl === undefined && given.length === 0)) return undefined;
  const tls: KafkaTlsSettings = {};
  for (const [field, name] of Object.entries(TLS_FILES) as [keyof KafkaTlsSettings, string][]) {
    const file = env[name];
    if (!file) continue;
    const contents = readSettingFile(name, file, problems);
    if (contents !== undefined) tls[field] = contents;
  }
  return tls;
}
