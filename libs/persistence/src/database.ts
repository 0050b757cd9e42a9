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

/** A URL safe to print: no password. */
export function redact(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (url.password) url.password = '***';
  return url.toString();
}

const DUPLICATE_DATABASE = '42P04';

/** Creates the database named in the URL when it does not exist yet (optionally from a template). */
export async function ensureDatabase(databaseUrl: string, template?: string): Promise<boolean> {
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
    const quoted = admin.escapeIdentifier(name);
    try {
      await admin.query(
        template
          ? `CREATE DATABASE ${quoted} TEMPLATE ${admin.escapeIdentifier(template)}`
          : `CREATE DATABASE ${quoted}`,
      );
    } catch (error) {
      // Two processes starting together may both try: the loser finds it made.
      if ((error as { code?: string }).code !== DUPLICATE_DATABASE) throw error;
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
