import type { DollyConfig } from '@dolly/config';
import { Client } from 'pg';
import { migrateDatabase } from './data-source';
import { databaseName, ensureDatabase, redact, withDatabase, withUser } from './database';
import {
  APP_LOGIN_ROLES,
  DOLLY_APPS,
  DOLLY_SCHEMAS,
  type DollyApp,
  MIGRATIONS_TABLE,
  OWNER_ROLE,
  canCreateRolesAndDatabases,
  ensureRoles,
} from './roles';

export interface DatabaseSetUp {
  rolesMade: string[];
  databaseCreated: boolean;
  /** Objects an earlier Dolly made as another role (it migrated as the superuser), now the owner's. */
  handedOver: number;
}

/** Statements that give the owner each of Dolly's objects another role owns. */
const HANDOVER_SQL = `
  SELECT format('ALTER SCHEMA %I OWNER TO %I', nspname, $2::text) AS statement
    FROM pg_namespace WHERE nspname = ANY($1::text[]) AND nspowner <> $2::regrole
  UNION ALL
  SELECT format('ALTER %s %s OWNER TO %I', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
           WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, c.oid::regclass, $2::text)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND c.relowner <> $2::regrole
     AND (n.nspname = ANY($1::text[]) OR (n.nspname = 'public' AND c.relname = $3))
     -- A column's sequence follows its table.
     AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
  UNION ALL
  SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $2::text)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname = ANY($1::text[]) AND p.proowner <> $2::regrole`;

/**
 * As a superuser: Dolly's roles, its database (owned by the owner, who then may create schemas
 * and the migrations table), and, in a database an earlier Dolly migrated as another role, every
 * object of Dolly's handed to the owner. Safe to run again and concurrently.
 */
export async function setUpDatabase(adminUrl: string, databaseUrl: string): Promise<DatabaseSetUp> {
  const rolesMade = await ensureRoles(adminUrl);
  const name = databaseName(databaseUrl);
  const database = withDatabase(adminUrl, name);
  const databaseCreated = await ensureDatabase(database, { owner: OWNER_ROLE });
  const client = new Client({ connectionString: database });
  await client.connect();
  try {
    const { rows } = await client.query<{ owner: string }>(
      'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()',
    );
    if (rows[0].owner !== OWNER_ROLE)
      await client.query(
        `ALTER DATABASE ${client.escapeIdentifier(name)} OWNER TO ${client.escapeIdentifier(OWNER_ROLE)}`,
      );
    await client.query('BEGIN');
    const { rows: statements } = await client.query<{ statement: string }>(HANDOVER_SQL, [
      DOLLY_SCHEMAS,
      OWNER_ROLE,
      MIGRATIONS_TABLE,
    ]);
    for (const { statement } of statements) await client.query(statement);
    await client.query('COMMIT');
    return { rolesMade, databaseCreated, handedOver: statements.length };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

export interface PreparedDatabase {
  /** Each app's connection: its login role, or the operator's DOLLY_<APP>_DATABASE_URL. */
  appUrls: Record<DollyApp, string>;
  applied: string[];
}

/**
 * What `npm start` and `npm run migrate` do before any app runs: make the roles and the database
 * when someone may (DATABASE_ADMIN_URL; or, when no owner URL is given, DATABASE_URL's user if it
 * is a superuser, as on a local trust-authenticated server), then migrate as the owner. Without
 * DATABASE_MIGRATION_URL or DOLLY_<APP>_DATABASE_URL, the roles are reached on DATABASE_URL's
 * server without a password: what a trust-authenticated server allows.
 */
export async function prepareDatabase(
  config: DollyConfig,
  log: (line: string) => void,
): Promise<PreparedDatabase> {
  const migrationUrl = config.databaseMigrationUrl ?? withUser(config.databaseUrl, OWNER_ROLE);
  const adminUrl =
    config.databaseAdminUrl ?? (config.databaseMigrationUrl ? undefined : config.databaseUrl);
  if (adminUrl) {
    if (config.databaseAdminUrl || (await canCreateRolesAndDatabases(adminUrl))) {
      const setUp = await setUpDatabase(adminUrl, migrationUrl);
      if (setUp.rolesMade.length > 0) log(`made the roles ${setUp.rolesMade.join(', ')}`);
      if (setUp.databaseCreated) log(`created the database ${databaseName(migrationUrl)}`);
      if (setUp.handedOver > 0) log(`handed ${setUp.handedOver} objects to ${OWNER_ROLE}`);
    } else {
      log(
        `${redact(adminUrl)} may not make roles or databases: Dolly's roles and database must exist (README: PostgreSQL roles)`,
      );
    }
  }
  const applied = await migrateDatabase(migrationUrl);
  log(
    applied.length > 0
      ? `migrated ${databaseName(migrationUrl)}: ${applied.join(', ')}`
      : `the database ${databaseName(migrationUrl)} is up to date`,
  );
  const appUrls = Object.fromEntries(
    DOLLY_APPS.map((app) => [
      app,
      config.appDatabaseUrls[app] ?? withUser(config.databaseUrl, APP_LOGIN_ROLES[app]),
    ]),
  ) as Record<DollyApp, string>;
  return { appUrls, applied };
}
