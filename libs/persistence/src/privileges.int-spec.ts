// What each app's database role may do, on a test database copied from the migrated template (so
// the copy's grants are what is checked): what its code does, and nothing that rewrites history,
// another app's tables or the schema. The e2e suites run the apps on these roles and prove the
// grants suffice; this proves they go no further.
import { randomUUID } from 'node:crypto';
import { type TestDatabase, createTestDatabase } from '@dolly/testing';
import { Client } from 'pg';
import { withUser } from './database';
import {
  APP_BUILT_IN_MEMBERSHIPS,
  APP_LOGIN_ROLES,
  APP_ROLES,
  DOLLY_APPS,
  DOLLY_SCHEMAS,
  type DollyApp,
  MIGRATIONS_TABLE,
  OWNER_ROLE,
} from './roles';

let db: TestDatabase;
const sessions = new Map<string, Client>();

beforeAll(async () => {
  db = await createTestDatabase(2);
  for (const app of DOLLY_APPS) {
    const client = new Client({ connectionString: withUser(db.url, APP_LOGIN_ROLES[app]) });
    await client.connect();
    sessions.set(app, client);
  }
  // One event, so that statements which could touch rows have one to touch.
  await db.pool.query(
    `INSERT INTO event_store.events (event_id, stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at)
     VALUES ($1, 'vm-1', 'vm', 1, 'VmRenamed', 1, '{}', '{}', now())`,
    [randomUUID()],
  );
});

afterAll(async () => {
  for (const client of sessions.values()) await client.end();
  await db.drop();
});

const INSUFFICIENT_PRIVILEGE = '42501';

/** Runs a statement as the app's role and undoes it: 'allowed', or the SQLSTATE it failed with. */
async function attempt(app: DollyApp, sql: string): Promise<string> {
  const client = sessions.get(app)!;
  await client.query('BEGIN');
  try {
    await client.query(sql);
    return 'allowed';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await client.query('ROLLBACK');
  }
}

const appendEvent = `INSERT INTO event_store.events (event_id, stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at)
  VALUES (gen_random_uuid(), 'vm-2', 'vm', 1, 'VmRenamed', 1, '{}', '{}', now()) RETURNING global_position`;

/** Each statement, and the apps that may run it (the others must be refused). */
const RIGHTS: [string, string, DollyApp[]][] = [
  ['read events', 'SELECT * FROM event_store.events', ['api', 'projector', 'worker']],
  // The projector records its own tasks (a rebuild of the read models): started, ended.
  ['append events', appendEvent, ['api', 'projector', 'worker']],
  ['update events', `UPDATE event_store.events SET type = 'Forged'`, []],
  ['delete events', 'DELETE FROM event_store.events', []],
  ['truncate events', 'TRUNCATE event_store.events', []],
  ['read the outbox', 'SELECT * FROM event_store.outbox', ['api', 'projector']],
  [
    'add to the outbox',
    'INSERT INTO event_store.outbox (global_position) VALUES (1)',
    ['api', 'projector', 'worker'],
  ],
  ['empty the outbox', 'DELETE FROM event_store.outbox', ['projector']],
  ['update the outbox', 'UPDATE event_store.outbox SET global_position = 2', []],
  ['read idempotency keys', 'SELECT * FROM api.idempotency_keys', ['api']],
  [
    'record idempotency keys',
    `INSERT INTO api.idempotency_keys (principal, idempotency_key, request_fingerprint, response_status, response_headers)
     VALUES ('p', 'k', 'f', 202, '{}')`,
    ['api'],
  ],
  ['purge idempotency keys', 'DELETE FROM api.idempotency_keys', ['api']],
  ['rewrite idempotency keys', 'UPDATE api.idempotency_keys SET response_status = 200', []],
  ['read VMs', 'SELECT * FROM read_model.vms', ['api', 'projector']],
  ['prepare a rebuild', `SELECT read_model_admin.prepare_rebuild('rights')`, ['projector']],
  ['switch over', `SELECT read_model_admin.try_lock_for_switch()`, ['projector']],
  ['drop a rebuild', `SELECT read_model_admin.discard('read_model_rebuild_rights')`, ['projector']],
  ['hold off a switch-over', `SELECT read_model_admin.lock_for_write()`, ['projector']],
  ['read datastores', 'SELECT * FROM read_model.datastores', ['api', 'projector']],
  [
    'read projector bookkeeping',
    'SELECT * FROM read_model.projector_streams',
    ['api', 'projector'],
  ],
  [
    'write read models',
    `INSERT INTO read_model.projector_offsets (topic, partition, next_offset) VALUES ('t', 0, 1)`,
    ['projector'],
  ],
  ['rewrite read models', `UPDATE read_model.vms SET name = 'forged'`, ['projector']],
  ['delete from read models', 'DELETE FROM read_model.datastores', ['projector']],
  ['truncate read models', 'TRUNCATE read_model.vms', []],
  [
    'read the schema version',
    `SELECT * FROM public.${MIGRATIONS_TABLE}`,
    ['api', 'projector', 'worker'],
  ],
  ['forge the schema version', `DELETE FROM public.${MIGRATIONS_TABLE}`, []],
  ['alter the events table', 'ALTER TABLE event_store.events ADD COLUMN forged text', []],
  [
    'switch off the append-only trigger',
    'ALTER TABLE event_store.events DISABLE TRIGGER events_append_only',
    [],
  ],
  ['drop a read model', 'DROP TABLE read_model.vms', []],
  [
    'forge a link of the event chain',
    `INSERT INTO event_store.event_chain VALUES (999999, 1, 'vm-x', 1, '\\x00', '\\x00')`,
    [],
  ],
  ['move the chain head', `UPDATE event_store.chain_head SET chain_seq = 0`, []],
  [
    'relink an event',
    `SELECT event_store.chain_events(ARRAY(SELECT e FROM event_store.events e LIMIT 1))`,
    [],
  ],
  [
    'sign a chain checkpoint',
    `INSERT INTO event_store.chain_checkpoints VALUES (1, '\\x00', now(), 'k', '\\x00')`,
    ['projector'],
  ],
  [
    'read the chain',
    `SELECT * FROM event_store.event_chain LIMIT 1`,
    ['api', 'projector', 'worker'],
  ],
  ['create a table in a Dolly schema', 'CREATE TABLE read_model.forged (id int)', []],
  ['create a table in public', 'CREATE TABLE public.forged (id int)', []],
  ['create a schema', 'CREATE SCHEMA forged', []],
  [
    'replace a trigger function',
    `CREATE OR REPLACE FUNCTION event_store.refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
    [],
  ],
  ['create a database', 'CREATE DATABASE forged', []],
  ['create a role', 'CREATE ROLE forged', []],
];

describe.each(DOLLY_APPS)('the %s role', (app) => {
  it.each(
    RIGHTS.map(
      ([what, sql, apps]) =>
        [`${apps.includes(app) ? 'may' : 'may not'} ${what}`, sql, apps.includes(app)] as const,
    ),
  )('%s', async (_title, sql, allowed) => {
    // CREATE DATABASE cannot run in a transaction: as an app it fails on the right first.
    const result = sql.startsWith('CREATE DATABASE')
      ? await sessions
          .get(app)!
          .query(sql)
          .then(
            () => 'allowed',
            (error: { code?: string }) => error.code,
          )
      : await attempt(app, sql);
    expect(result).toBe(allowed ? 'allowed' : INSUFFICIENT_PRIVILEGE);
  });
});

describe('roles', () => {
  it('let no app log in as anything but a plain member of its own role (the relay reads statistics)', async () => {
    const { rows } = await db.pool.query(
      `SELECT r.rolname::text AS role, r.rolcanlogin AS login, r.rolsuper OR r.rolcreatedb OR r.rolcreaterole
              OR r.rolreplication OR r.rolbypassrls AS powers,
              ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                     WHERE m.member = r.oid ORDER BY 1)::text[] AS member_of
         FROM pg_roles r WHERE r.rolname = ANY($1::text[]) ORDER BY r.rolname`,
      [[OWNER_ROLE, ...Object.values(APP_ROLES), ...Object.values(APP_LOGIN_ROLES)]],
    );
    expect(rows).toEqual(
      [
        { role: OWNER_ROLE, login: true, powers: false, member_of: [] },
        ...DOLLY_APPS.map((app) => ({
          role: APP_ROLES[app],
          login: false,
          powers: false,
          member_of: [...(APP_BUILT_IN_MEMBERSHIPS[app] ?? [])],
        })),
        ...DOLLY_APPS.map((app) => ({
          role: APP_LOGIN_ROLES[app],
          login: true,
          powers: false,
          member_of: [APP_ROLES[app]],
        })),
      ].sort((a, b) => a.role.localeCompare(b.role)),
    );
  });

  it('leave every schema, table and function of Dolly to the owner', async () => {
    const { rows } = await db.pool.query(
      `SELECT DISTINCT owner FROM (
         SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = ANY($1::text[])
         UNION ALL
         SELECT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ANY($1::text[]) OR (n.nspname = 'public' AND c.relname LIKE $2 || '%')
         UNION ALL
         SELECT pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = ANY($1::text[])) AS owners`,
      [DOLLY_SCHEMAS, MIGRATIONS_TABLE],
    );
    expect(rows).toEqual([{ owner: OWNER_ROLE }]);
  });

  it('give tables the owner makes later the rights of their schema', async () => {
    const owner = new Client({
      connectionString: db.url,
      options: `-c role=${OWNER_ROLE}`,
    });
    await owner.connect();
    try {
      await owner.query('CREATE TABLE read_model.later (id int)');
      await owner.query('CREATE TABLE event_store.later (id int)');
      await owner.query('CREATE TABLE api.later (id int)');
    } finally {
      await owner.end();
    }

    const rights = async (sql: string) =>
      Object.fromEntries(
        await Promise.all(DOLLY_APPS.map(async (app) => [app, await attempt(app, sql)])),
      );
    expect(await rights('SELECT * FROM read_model.later')).toEqual({
      api: 'allowed',
      projector: 'allowed',
      worker: INSUFFICIENT_PRIVILEGE,
    });
    expect(await rights('INSERT INTO read_model.later VALUES (1)')).toEqual({
      api: INSUFFICIENT_PRIVILEGE,
      projector: 'allowed',
      worker: INSUFFICIENT_PRIVILEGE,
    });
    expect(await rights('SELECT * FROM event_store.later')).toEqual({
      api: 'allowed',
      projector: 'allowed',
      worker: 'allowed',
    });
    expect(await rights('INSERT INTO event_store.later VALUES (1)')).toEqual({
      api: INSUFFICIENT_PRIVILEGE,
      projector: INSUFFICIENT_PRIVILEGE,
      worker: INSUFFICIENT_PRIVILEGE,
    });
    expect(await rights('UPDATE api.later SET id = 2')).toEqual({
      api: 'allowed',
      projector: INSUFFICIENT_PRIVILEGE,
      worker: INSUFFICIENT_PRIVILEGE,
    });
  });
});
