import { APP_NAMES, type AppName } from '@dolly/config';
import { Client } from 'pg';
import { redact, withDatabase } from './database';

/**
 * Dolly's PostgreSQL roles. Roles belong to the cluster, not to a database, so they are made
 * before the migrations (by `npm start` or `npm run migrate` as a superuser, by docker compose's
 * init script, or by an operator's SQL: README, "PostgreSQL roles"); the migrations grant to them.
 *
 * - The owner owns Dolly's schemas and tables and runs the migrations: only it changes the schema.
 * - Each app has a group role (NOLOGIN) holding exactly what that app does, granted by the
 *   migrations, and logs in as a member of it: an operator can add or rotate logins (with
 *   passwords of their own) without a migration.
 */
export const OWNER_ROLE = 'dolly_owner';

export const DOLLY_APPS = APP_NAMES;
export type DollyApp = AppName;

/** What each app may do, granted by the migrations. */
export const APP_ROLES: Record<DollyApp, string> = {
  api: 'dolly_api',
  projector: 'dolly_projector',
  worker: 'dolly_worker',
};

/** The login each app connects as under `npm start` and docker compose: a member of its app role. */
export const APP_LOGIN_ROLES: Record<DollyApp, string> = {
  api: 'dolly_api_login',
  projector: 'dolly_projector_login',
  worker: 'dolly_worker_login',
};

/** The schemas the migrations create (and the owner owns); the migrations table is in public. */
export const DOLLY_SCHEMAS = ['event_store', 'api', 'read_model', 'read_model_admin'] as const;
export const MIGRATIONS_TABLE = 'schema_migrations';

const DUPLICATE_OBJECT = '42710';
const UNIQUE_VIOLATION = '23505';

interface RoleDefinition {
  name: string;
  login: boolean;
  memberOf?: string;
}

/**
 * Built-in roles an app's role is a member of. The projector runs the outbox relay, which names
 * the transaction holding it back: other sessions' transactions in pg_stat_activity are visible
 * only with pg_read_all_stats (which reads statistics, and nothing of any table).
 */
export const APP_BUILT_IN_MEMBERSHIPS: Partial<Record<DollyApp, readonly string[]>> = {
  projector: ['pg_read_all_stats'],
};

const ROLE_DEFINITIONS: RoleDefinition[] = [
  { name: OWNER_ROLE, login: true },
  ...DOLLY_APPS.map((app) => ({ name: APP_ROLES[app], login: false })),
  ...DOLLY_APPS.map((app) => ({
    name: APP_LOGIN_ROLES[app],
    login: true,
    memberOf: APP_ROLES[app],
  })),
];

/** Whether the URL's user may make roles and databases (a superuser, or both rights). */
export async function canCreateRolesAndDatabases(adminUrl: string): Promise<boolean> {
  const admin = new Client({ connectionString: withDatabase(adminUrl, 'postgres') });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ may: boolean }>(
      `SELECT rolsuper OR (rolcreaterole AND rolcreatedb) AS may FROM pg_roles WHERE rolname = current_user`,
    );
    return rows[0]?.may === true;
  } finally {
    await admin.end();
  }
}

/**
 * Makes Dolly's roles that do not exist yet, without passwords (a trust-authenticated server, as
 * `npm start` and the tests use; an operator sets passwords: README). Roles that exist are left
 * as they are. Safe to run concurrently.
 */
export async function ensureRoles(adminUrl: string): Promise<string[]> {
  const admin = new Client({ connectionString: withDatabase(adminUrl, 'postgres') });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `Cannot reach PostgreSQL at ${redact(adminUrl)} to make Dolly's roles: ${(error as Error).message}`,
    );
  }
  const made: string[] = [];
  try {
    for (const role of ROLE_DEFINITIONS) {
      const name = admin.escapeIdentifier(role.name);
      const { rowCount } = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [
        role.name,
      ]);
      if (!rowCount) {
        try {
          // The defaults, said anyway: none of these may create databases or roles.
          await admin.query(
            `CREATE ROLE ${name} ${role.login ? 'LOGIN' : 'NOLOGIN'} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS`,
          );
          made.push(role.name);
        } catch (error) {
          // Another process made it in the meantime.
          const code = (error as { code?: string }).code;
          if (code !== DUPLICATE_OBJECT && code !== UNIQUE_VIOLATION) throw error;
        }
      }
      if (role.memberOf) await grantMembership(admin, role.memberOf, role.name);
    }
    for (const app of DOLLY_APPS) {
      for (const group of APP_BUILT_IN_MEMBERSHIPS[app] ?? [])
        await grantMembership(admin, group, APP_ROLES[app]);
    }
  } finally {
    await admin.end();
  }
  return made;
}

async function grantMembership(admin: Client, group: string, member: string): Promise<void> {
  const { rowCount } = await admin.query(
    `SELECT 1 FROM pg_auth_members m
       JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
      WHERE g.rolname = $1 AND r.rolname = $2`,
    [group, member],
  );
  if (rowCount) return;
  try {
    await admin.query(
      `GRANT ${admin.escapeIdentifier(group)} TO ${admin.escapeIdentifier(member)}`,
    );
  } catch (error) {
    // Another process granted it in the meantime.
    if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
  }
}
