// How a database comes to be migrated: `npm start` and `npm run migrate` make it and migrate it as
// the owner; an app only checks it, and says what to do when it is not ready.
import { randomBytes } from 'node:crypto';
import { loadConfig } from '@dolly/config';
import { TEST_DATABASE_PREFIX, serverUrl } from '@dolly/testing';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import {
  SchemaNotReadyError,
  dataSourceOptions,
  migrateDatabase,
  requireMigratedSchema,
} from './data-source';
import { dropDatabase, ensureDatabase, withDatabase, withUser } from './database';
import { MIGRATIONS } from './migrations';
import { APP_LOGIN_ROLES, DOLLY_SCHEMAS, MIGRATIONS_TABLE, OWNER_ROLE } from './roles';
import { prepareDatabase } from './setup';

const made: string[] = [];
function freshDatabaseUrl(): string {
  const url = withDatabase(
    serverUrl(),
    `${TEST_DATABASE_PREFIX}${Math.floor(Date.now() / 1000)}_setup_${randomBytes(3).toString('hex')}`,
  );
  made.push(url);
  return url;
}

afterAll(async () => {
  for (const url of made) await dropDatabase(url);
});

/** Who owns Dolly's schemas, tables and functions, and the database. */
async function owners(url: string): Promise<string[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ owner: string }>(
      `SELECT DISTINCT owner FROM (
         SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = current_database()
         UNION ALL
         SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = ANY($1::text[])
         UNION ALL
         SELECT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1::text[]) OR (n.nspname = 'public' AND c.relname LIKE $2 || '%')
         UNION ALL
         SELECT pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = ANY($1::text[])) AS owners ORDER BY 1`,
      [DOLLY_SCHEMAS, MIGRATIONS_TABLE],
    );
    return rows.map((row) => row.owner);
  } finally {
    await client.end();
  }
}

const silent = () => undefined;

describe('preparing the database before the apps start', () => {
  it('makes, migrates and hands to the owner a database that does not exist', async () => {
    const url = freshDatabaseUrl();

    const prepared = await prepareDatabase(loadConfig({ DATABASE_URL: url }), silent);

    expect(prepared.applied).toEqual(MIGRATIONS.map((migration) => new migration().name));
    expect(await owners(url)).toEqual([OWNER_ROLE]);
    expect(prepared.appUrls).toEqual({
      api: withUser(url, APP_LOGIN_ROLES.api),
      projector: withUser(url, APP_LOGIN_ROLES.projector),
      worker: withUser(url, APP_LOGIN_ROLES.worker),
    });
    await expect(requireMigratedSchema(prepared.appUrls.worker)).resolves.toEqual({
      role: APP_LOGIN_ROLES.worker,
      superuser: false,
    });
  });

  it('hands a database an earlier Dolly migrated as the superuser to the owner, and grants', async () => {
    const url = freshDatabaseUrl();
    await ensureDatabase(url);
    const earlier = new DataSource({
      type: 'postgres',
      url,
      migrations: MIGRATIONS.slice(0, 5),
      migrationsTableName: MIGRATIONS_TABLE,
    });
    await earlier.initialize();
    await earlier.runMigrations({ transaction: 'each' });
    await earlier.destroy();
    expect(await owners(url)).toEqual(['postgres']);

    const lines: string[] = [];
    const prepared = await prepareDatabase(loadConfig({ DATABASE_URL: url }), (line) =>
      lines.push(line),
    );

    expect(prepared.applied).toEqual(MIGRATIONS.slice(5).map((migration) => migration.name));
    expect(lines).toEqual(
      expect.arrayContaining([expect.stringMatching(/^handed \d+ objects to dolly_owner$/)]),
    );
    expect(await owners(url)).toEqual([OWNER_ROLE]);
    await expect(requireMigratedSchema(prepared.appUrls.api)).resolves.toEqual({
      role: APP_LOGIN_ROLES.api,
      superuser: false,
    });
  });

  it('runs the migrations once when they are asked for again', async () => {
    const url = freshDatabaseUrl();
    await prepareDatabase(loadConfig({ DATABASE_URL: url }), silent);

    const again = await prepareDatabase(loadConfig({ DATABASE_URL: url }), silent);

    expect(again.applied).toEqual([]);
  });

  it('refuses to migrate as a role that may not act as the owner, saying how to', async () => {
    const url = freshDatabaseUrl();
    await prepareDatabase(loadConfig({ DATABASE_URL: url }), silent);

    await expect(migrateDatabase(withUser(url, APP_LOGIN_ROLES.api))).rejects.toThrow(
      `dolly_api_login may not act as dolly_owner, who owns Dolly's schema: migrate as dolly_owner (DATABASE_MIGRATION_URL) or GRANT dolly_owner TO dolly_api_login`,
    );
  });
});

describe('the least-privilege migration', () => {
  it('takes back what it granted when undone, and grants it again when redone', async () => {
    const url = freshDatabaseUrl();
    await prepareDatabase(loadConfig({ DATABASE_URL: url }), silent);
    const canRead = async () => {
      const api = new Client({ connectionString: withUser(url, APP_LOGIN_ROLES.api) });
      await api.connect();
      try {
        await api.query('SELECT 1 FROM event_store.events LIMIT 1');
        return true;
      } catch {
        return false;
      } finally {
        await api.end();
      }
    };
    const owner = new DataSource(
      dataSourceOptions({ databaseUrl: url, poolSize: 1, sessionRole: OWNER_ROLE }),
    );
    await owner.initialize();
    try {
      expect(await canRead()).toBe(true);

      // Back to before the least-privilege migration: it and every later one undone.
      const leastPrivilege = MIGRATIONS.findIndex((m) => m.name === 'LeastPrivilege1764000000005');
      for (let undo = MIGRATIONS.length - leastPrivilege; undo > 0; undo--)
        await owner.undoLastMigration({ transaction: 'each' });
      expect(await canRead()).toBe(false);

      await owner.runMigrations({ transaction: 'each' });
      expect(await canRead()).toBe(true);
    } finally {
      await owner.destroy();
    }
  });
});

describe('an app checking the database at start', () => {
  it('learns when it connected as a superuser (the app then warns)', async () => {
    const url = freshDatabaseUrl();
    await prepareDatabase(loadConfig({ DATABASE_URL: url }), silent);

    await expect(requireMigratedSchema(url)).resolves.toEqual({
      role: 'postgres',
      superuser: true,
    });
  });

  it('is told the database does not exist, and how to make it', async () => {
    const url = freshDatabaseUrl();

    const refusal = requireMigratedSchema(withUser(url, APP_LOGIN_ROLES.api));

    await expect(refusal).rejects.toThrow(SchemaNotReadyError);
    await expect(refusal).rejects.toThrow(/does not exist .* npm run migrate/);
  });

  it('is told which migrations are missing, and how to apply them', async () => {
    const url = freshDatabaseUrl();
    await ensureDatabase(url, { owner: OWNER_ROLE });

    const refusal = requireMigratedSchema(withUser(url, APP_LOGIN_ROLES.projector));

    await expect(refusal).rejects.toThrow(
      new RegExp(
        `lacks ${MIGRATIONS.length} of the ${MIGRATIONS.length} migrations this build needs \\(EventStore1764000000000, .*\\)\\. Migrate it first, as its owner: npm run migrate`,
      ),
    );
  });
});
