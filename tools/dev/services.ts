/**
 * The services Dolly needs, found or started: PostgreSQL (DATABASE_URL, else 127.0.0.1:5432, started
 * with pg_ctlcluster where it is installed but down) and Kafka (KAFKA_BROKERS, else the project's
 * own broker from tools/kafka). Used by `npm start` and by the test suites' global setup.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { DEFAULT_DATABASE_URL } from '../../libs/config/src/config';
import {
  ensureKafkaRunning,
  localKafkaClientEnv,
  localKafkaFiles,
  stopKafka,
} from '../kafka/local-kafka';

export const REPO_ROOT = join(__dirname, '..', '..');
export const LOCAL_DIR = join(REPO_ROOT, '.local');

export interface RunningServices {
  databaseUrl: string;
  kafkaBrokers: string;
  /**
   * The environment Dolly's apps and tests need for this Kafka: KAFKA_BROKERS, and for the local
   * broker Dolly's principal (KAFKA_SASL_*). An external Kafka's settings stay in the environment.
   */
  kafkaEnv: Record<string, string>;
  /** The local broker's principals and passwords; none with an external Kafka. */
  kafkaCredentialsFile?: string;
  /** What this call started (and stop() stops); what it found running is left alone. */
  started: { postgresql: boolean; kafka: boolean };
  stop(): Promise<void>;
}

async function postgresAnswers(databaseUrl: string): Promise<string | undefined> {
  const url = new URL(databaseUrl);
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Debian's cluster of the installed PostgreSQL, if there is one to start. */
function debianCluster(): string | undefined {
  if (!existsSync('/etc/postgresql')) return undefined;
  const versions = readdirSync('/etc/postgresql').filter((version) =>
    existsSync(join('/etc/postgresql', version, 'main')),
  );
  return versions.sort((a, b) => Number(b) - Number(a))[0];
}

function pgctl(action: 'start' | 'stop', version: string): boolean {
  return (
    spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', action], {
      stdio: 'ignore',
    }).status === 0
  );
}

async function ensurePostgres(
  log: (line: string) => void,
): Promise<{ databaseUrl: string; startedHere: string | undefined }> {
  const databaseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
  const problem = await postgresAnswers(databaseUrl);
  if (!problem) return { databaseUrl, startedHere: undefined };
  const version = process.env.DATABASE_URL ? undefined : debianCluster();
  if (version) {
    log(`PostgreSQL is down; starting cluster ${version}/main`);
    if (pgctl('start', version)) {
      for (let attempt = 0; attempt < 50; attempt++) {
        if (!(await postgresAnswers(databaseUrl))) return { databaseUrl, startedHere: version };
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }
  throw new Error(
    `PostgreSQL does not answer at ${databaseUrl.replace(/:[^:@/]*@/, ':***@')} (${problem}). ` +
      'Start it (on Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start), or set DATABASE_URL.',
  );
}

export async function ensureServices(
  log: (line: string) => void = () => undefined,
): Promise<RunningServices> {
  const postgres = await ensurePostgres(log);
  let kafkaEnv: Record<string, string>;
  let kafkaStarted = false;
  if (process.env.KAFKA_BROKERS) {
    kafkaEnv = { KAFKA_BROKERS: process.env.KAFKA_BROKERS };
  } else {
    log(
      'Starting the local Kafka broker (first run resolves its jars with Maven: a minute or two)',
    );
    const kafka = await ensureKafkaRunning({ log });
    kafkaEnv = localKafkaClientEnv();
    kafkaStarted = kafka.startedHere;
  }
  return {
    databaseUrl: postgres.databaseUrl,
    kafkaBrokers: kafkaEnv.KAFKA_BROKERS,
    kafkaEnv,
    ...(process.env.KAFKA_BROKERS ? {} : { kafkaCredentialsFile: localKafkaFiles().credentials }),
    started: { postgresql: postgres.startedHere !== undefined, kafka: kafkaStarted },
    async stop() {
      if (kafkaStarted) await stopKafka();
      if (postgres.startedHere) pgctl('stop', postgres.startedHere);
    },
  };
}

export const LOCAL_TOKENS_FILE = join(LOCAL_DIR, 'tokens.json');
const ROLES = ['admin', 'operator', 'auditor', 'host-client'] as const;

/** One token per role for the local stack, made once and kept in .local/tokens.json (git-ignored). */
export function ensureLocalTokens(): string {
  if (!existsSync(LOCAL_TOKENS_FILE)) {
    mkdirSync(LOCAL_DIR, { recursive: true });
    const tokens = ROLES.map((role) => ({
      name: `local-${role}`,
      role,
      token: randomBytes(24).toString('hex'),
    }));
    writeFileSync(LOCAL_TOKENS_FILE, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
  }
  return LOCAL_TOKENS_FILE;
}

export function localToken(role: (typeof ROLES)[number]): string {
  const tokens = JSON.parse(readFileSync(ensureLocalTokens(), 'utf8')) as {
    role: string;
    token: string;
  }[];
  return tokens.find((t) => t.role === role)!.token;
}
