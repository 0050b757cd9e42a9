import { Client, type Pool } from 'pg';
import { DataSource, type DataSourceOptions, type EntitySchema } from 'typeorm';
import { databaseName, redact } from './database';
import { MIGRATIONS } from './migrations';
import { MIGRATIONS_TABLE, OWNER_ROLE } from './roles';

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type EntityTarget = Function | EntitySchema;

export interface DataSourceSettings {
  databaseUrl: string;
  entities?: EntityTarget[];
  /** Connections in the pool; the event store's appends and the queries share it. */
  poolSize?: number;
  applicationName?: string;
  /** Every connection acts as this role (SET ROLE at connect): the objects it makes are that role's. */
  sessionRole?: string;
  /**
   * PostgreSQL ends a session idle inside a transaction this long (0: never): a transaction left
   * open holds back every reader of the global order, the outbox relay first.
   */
  idleInTransactionTimeoutMs?: number;
}

/** The server settings every session of the pool starts with (libpq `options`). */
function sessionOptions(settings: DataSourceSettings): string | undefined {
  const options = [
    ...(settings.sessionRole ? [`-c role=${settings.sessionRole}`] : []),
    ...(settings.idleInTransactionTimeoutMs !== undefined
      ? [`-c idle_in_transaction_session_timeout=${settings.idleInTransactionTimeoutMs}`]
      : []),
  ];
  return options.length > 0 ? options.join(' ') : undefined;
}

/**
 * Keeps a pool's clients from taking the process down when the server ends their session while
 * they are checked out (idle_in_transaction_session_timeout, a restart, pg_terminate_backend):
 * without a listener, node-postgres throws the error. The client is then unusable: its next query
 * fails, and releasing it throws it away.
 */
export function survivesEndedSessions(
  pool: Pool,
  warn: (message: string, error: Error) => void,
): Pool {
  const guarded = new WeakSet<object>();
  pool.on('acquire', (client) => {
    if (guarded.has(client)) return;
    guarded.add(client);
    client.on('error', (error: Error) => warn('PostgreSQL ended a pooled session', error));
  });
  pool.on('error', (error) => warn('PostgreSQL ended an idle pooled session', error));
  return pool;
}

export function dataSourceOptions(settings: DataSourceSettings): DataSourceOptions {
  return {
    type: 'postgres',
    url: settings.databaseUrl,
    entities: settings.entities ?? [],
    migrations: MIGRATIONS,
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsRun: false,
    synchronize: false,
    logging: false,
    applicationName: settings.applicationName ?? 'dolly',
    poolSize: settings.poolSize ?? 10,
    extra: sessionOptions(settings) ? { options: sessionOptions(settings) } : undefined,
  };
}

/** Any stable number: it only has to be the same in every process that migrates this database. */
const MIGRATION_LOCK = 0x646f6c6c79; // "dolly"

const INSUFFICIENT_PRIVILEGE = '42501';
const UNDEFINED_OBJECT = '42704';
const INVALID_PARAMETER = '22023';
const INVALID_AUTHORIZATION = '28000';

/** Why a migration could not start, said so that an operator knows what to do. */
function explainMigrationFailure(migrationUrl: string, error: unknown): Error {
  const { code, message } = error as { code?: string; message?: string };
  const user = decodeURIComponent(new URL(migrationUrl).username) || 'the default user';
  if (code === INSUFFICIENT_PRIVILEGE && /set role/i.test(message ?? ''))
    return new Error(
      `${user} may not act as ${OWNER_ROLE}, who owns Dolly's schema: migrate as ${OWNER_ROLE} ` +
        `(DATABASE_MIGRATION_URL) or GRANT ${OWNER_ROLE} TO ${user}`,
    );
  if (
    code === INVALID_PARAMETER ||
    code === UNDEFINED_OBJECT ||
    (code === INVALID_AUTHORIZATION && /does not exist/.test(message ?? ''))
  )
    return new Error(
      `${message}: a superuser makes Dolly's roles before the migrations ` +
        '(npm run migrate with DATABASE_ADMIN_URL, or the SQL in README: PostgreSQL roles)',
    );
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Applies pending migrations as the owner (the connection's user must be dolly_owner or may act as
 * it), one process at a time. The database and the roles exist already: see setUpDatabase.
 */
export async function migrateDatabase(migrationUrl: string): Promise<string[]> {
  const lock = new Client({ connectionString: migrationUrl, application_name: 'dolly-migrate' });
  try {
    await lock.connect();
  } catch (error) {
    throw explainMigrationFailure(migrationUrl, error);
  }
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const dataSource = new DataSource(
      dataSourceOptions({
        databaseUrl: migrationUrl,
        poolSize: 1,
        applicationName: 'dolly-migrate',
        sessionRole: OWNER_ROLE,
      }),
    );
    try {
      await dataSource.initialize();
    } catch (error) {
      throw explainMigrationFailure(migrationUrl, error);
    }
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((migration) => migration.name);
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.end();
  }
}

/** The database is not at the version this build needs: the app must not start on it. */
export class SchemaNotReadyError extends Error {
  override name = 'SchemaNotReadyError';
}

export interface ConnectedRole {
  role: string;
  superuser: boolean;
}

const UNDEFINED_TABLE = '42P01';
const INVALID_CATALOG_NAME = '3D000';
const HOW_TO_MIGRATE =
  'Migrate it first, as its owner: npm run migrate (node dist/libs/persistence/src/migrate.js) ' +
  'with DATABASE_MIGRATION_URL; npm start does it for you';

/**
 * Apps never migrate: they check at start that every migration they know of has been applied
 * (later ones are fine: the database may be migrated ahead of a rolling upgrade).
 */
export async function requireMigratedSchema(databaseUrl: string): Promise<ConnectedRole> {
  const client = new Client({
    connectionString: databaseUrl,
    application_name: 'dolly-schema-check',
  });
  try {
    await client.connect();
  } catch (error) {
    if ((error as { code?: string }).code === INVALID_CATALOG_NAME)
      throw new SchemaNotReadyError(
        `The database ${databaseName(databaseUrl)} does not exist at ${redact(databaseUrl)}. ${HOW_TO_MIGRATE}`,
      );
    throw error;
  }
  try {
    const {
      rows: [connected],
    } = await client.query<ConnectedRole>(
      'SELECT current_user AS role, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user',
    );
    let applied: string[] = [];
    try {
      const { rows } = await client.query<{ name: string }>(
        `SELECT name FROM public.${MIGRATIONS_TABLE}`,
      );
      applied = rows.map((row) => row.name);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === INSUFFICIENT_PRIVILEGE)
        throw new SchemaNotReadyError(
          `${connected.role} may not read ${MIGRATIONS_TABLE} in ${databaseName(databaseUrl)}: ` +
            "it holds none of Dolly's grants (README: PostgreSQL roles)",
        );
      if (code !== UNDEFINED_TABLE) throw error;
    }
    const needed = MIGRATIONS.map((migration) => new migration().name);
    const missing = needed.filter((name) => !applied.includes(name));
    if (missing.length > 0)
      throw new SchemaNotReadyError(
        `The database ${databaseName(databaseUrl)} lacks ${missing.length} of the ${needed.length} ` +
          `migrations this build needs (${missing.join(', ')}). ${HOW_TO_MIGRATE}`,
      );
    return connected;
  } finally {
    await client.end();
  }
}
