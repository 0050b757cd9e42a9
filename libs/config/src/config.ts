/**
 * Dolly's settings, from the environment, with defaults that run the local stack: PostgreSQL on
 * 127.0.0.1:5432 as postgres, and the project's own Kafka broker on 127.0.0.1:19092.
 */
import { delimiter, isAbsolute, normalize } from 'node:path';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/dolly';
export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:19092';

export const APP_NAMES = ['api', 'projector', 'worker'] as const;
export type AppName = (typeof APP_NAMES)[number];

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
  const roots = (raw ?? '')
    .split(delimiter)
    .map((root) => root.trim())
    .filter(Boolean);
  const relative = roots.filter((root) => !isAbsolute(root));
  if (relative.length > 0)
    throw new Error(
      `DOLLY_DATASTORE_ROOTS must list absolute folders (separated by '${delimiter}'), not ${relative.map((r) => `'${r}'`).join(', ')}`,
    );
  return roots.map((root) => (root === '/' ? root : normalize(root).replace(/\/+$/, '')));
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
    kafkaPrefix: env.DOLLY_KAFKA_PREFIX ?? '',
    externalKafka: Boolean(env.KAFKA_BROKERS),
    externalDatabase: Boolean(env.DATABASE_URL),
    apiPort: port(env, 'DOLLY_API_PORT', 8080),
    projectorPort: port(env, 'DOLLY_PROJECTOR_PORT', 8081),
    workerPort: port(env, 'DOLLY_WORKER_PORT', 8082),
    logLevel: env.DOLLY_LOG_LEVEL || 'info',
    datastoreRoots: datastoreRoots(env.DOLLY_DATASTORE_ROOTS),
  };
}
