import { Client } from 'pg';

/** The database name in a postgres:// URL. */
export function databaseName(databaseUrl: string): string {
  const name = decodeURIComponent(new URL(databaseUrl).pathname.replace(/^\//, ''));
  if (!name) throw new Error(`DATABASE_URL ${redact(databaseUrl)} names no database`);
  return name;
}

/** The same server, another database. */
export function withDatabase(databaseUrl: string, name: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

/**
 * The same server and database as another role, without a password: how `npm start` reaches a
 * trust-authenticated server as each of Dolly's roles.
 */
export function withUser(databaseUrl: string, user: string): string {
  const url = new URL(databaseUrl);
  url.username = encodeURIComponent(user);
  url.password = '';
  return url.toString();
}

/** A URL safe to print: no password. */
export function redact(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (url.password) url.password = '***';
  return url.toString();
}

const DUPLICATE_DATABASE = '42P04';
/** A CREATE DATABASE that lost the race to a concurrent one fails on pg_database's unique index. */
const UNIQUE_VIOLATION = '23505';

export interface NewDatabase {
  /** Copied from this database (its objects, their owners and grants). */
  template?: string;
  /** The role that owns it (the creator otherwise). */
  owner?: string;
}

/** Creates the database named in the URL when it does not exist yet; true when this call made it. */
export async function ensureDatabase(
  databaseUrl: string,
  { template, owner }: NewDatabase = {},
): Promise<boolean> {
  const name = databaseName(databaseUrl);
  const admin = new Client({ connectionString: withDatabase(databaseUrl, 'postgres') });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `Cannot reach PostgreSQL at ${redact(databaseUrl)}: ${(error as Error).message}. ` +
        'Start it (on Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set DATABASE_URL.',
    );
  }
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return false;
    const options = [
      template ? `TEMPLATE ${admin.escapeIdentifier(template)}` : '',
      owner ? `OWNER ${admin.escapeIdentifier(owner)}` : '',
    ].join(' ');
    try {
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)} ${options}`);
    } catch (error) {
      // Two processes may both try: the loser finds it made, told so by either code.
      const code = (error as { code?: string }).code;
      if (code !== DUPLICATE_DATABASE && code !== UNIQUE_VIOLATION) throw error;
      return false;
    }
    return true;
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const admin = new Client({ connectionString: withDatabase(databaseUrl, 'postgres') });
  await admin.connect();
  try {
    await admin.query(
      `DROP DATABASE IF EXISTS ${admin.escapeIdentifier(databaseName(databaseUrl))} WITH (FORCE)`,
    );
  } finally {
    await admin.end();
  }
}
