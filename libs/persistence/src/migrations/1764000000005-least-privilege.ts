import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each app may do what its code does, and no more; only the owner (who runs the migrations and
 * owns every schema and table) changes the schema. The grants go to NOLOGIN group roles, so the
 * logins (their names, their passwords) are the operator's: see README, "PostgreSQL roles".
 *
 * - dolly_api: appends events (with their outbox rows), reads the store, the outbox (its health
 *   check) and every read model, and keeps its idempotency keys. It cannot change a read model.
 * - dolly_projector: reads the store, relays and empties the outbox, writes the read models.
 * - dolly_worker: appends events (with their outbox rows), reads the store and the datastores.
 *
 * Events are never updated, deleted or truncated by an app: no app role holds those rights (and
 * the append-only trigger refuses them even to the owner). Roles and grants are named here as
 * they were when this migration was written: a later change of names is a later migration.
 *
 * The identity column that numbers events needs no right on its sequence: an identity default
 * draws from it without checking one. Default privileges give tables the owner creates later the
 * same rights by schema; a table that needs other rights is granted them in its migration.
 */
export class LeastPrivilege1764000000005 implements MigrationInterface {
  name = 'LeastPrivilege1764000000005';

  async up(db: QueryRunner): Promise<void> {
    const roles = ['dolly_api', 'dolly_projector', 'dolly_worker'];
    const missing = (await db.query(
      `SELECT name FROM unnest($1::text[]) AS name WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name)`,
      [roles],
    )) as { name: string }[];
    if (missing.length > 0)
      throw new Error(
        `The roles ${missing.map((role) => role.name).join(', ')} do not exist: a superuser makes ` +
          `Dolly's roles before the migrations (npm run migrate with DATABASE_ADMIN_URL, or the SQL in README: PostgreSQL roles)`,
      );

    await db.query(
      `GRANT USAGE ON SCHEMA event_store, read_model TO dolly_api, dolly_projector, dolly_worker`,
    );
    await db.query(`GRANT USAGE ON SCHEMA api TO dolly_api`);
    // Every app checks at start that the schema is at the version it needs.
    await db.query(
      `GRANT SELECT ON public.schema_migrations TO dolly_api, dolly_projector, dolly_worker`,
    );

    await db.query(`GRANT SELECT, INSERT ON event_store.events TO dolly_api, dolly_worker`);
    await db.query(`GRANT SELECT ON event_store.events TO dolly_projector`);
    await db.query(`GRANT SELECT, INSERT ON event_store.outbox TO dolly_api`);
    await db.query(`GRANT INSERT ON event_store.outbox TO dolly_worker`);
    await db.query(`GRANT SELECT, DELETE ON event_store.outbox TO dolly_projector`);
    await db.query(`GRANT SELECT, INSERT, DELETE ON api.idempotency_keys TO dolly_api`);
    await db.query(`GRANT SELECT ON ALL TABLES IN SCHEMA read_model TO dolly_api`);
    await db.query(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA read_model TO dolly_projector`,
    );
    await db.query(`GRANT SELECT ON read_model.datastores TO dolly_worker`);
    // Trigger functions fire without it; a function an app may call is granted in its migration.
    await db.query(`REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA event_store FROM PUBLIC`);

    // Tables made later (by the owner, who runs the migrations) get the same rights by schema.
    await db.query(`ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC`);
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA event_store GRANT SELECT ON TABLES TO dolly_api, dolly_projector, dolly_worker`,
    );
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA read_model GRANT SELECT ON TABLES TO dolly_api`,
    );
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA read_model GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO dolly_projector`,
    );
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA read_model GRANT USAGE, SELECT ON SEQUENCES TO dolly_projector`,
    );
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA api GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO dolly_api`,
    );
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA api GRANT USAGE, SELECT ON SEQUENCES TO dolly_api`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA api REVOKE USAGE, SELECT ON SEQUENCES FROM dolly_api`,
    );
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA api REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM dolly_api`,
    );
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA read_model REVOKE USAGE, SELECT ON SEQUENCES FROM dolly_projector`,
    );
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA read_model REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM dolly_projector`,
    );
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA read_model REVOKE SELECT ON TABLES FROM dolly_api`,
    );
    await db.query(
      `ALTER DEFAULT PRIVILEGES IN SCHEMA event_store REVOKE SELECT ON TABLES FROM dolly_api, dolly_projector, dolly_worker`,
    );
    await db.query(`ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC`);
    await db.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA event_store TO PUBLIC`);
    for (const schema of ['event_store', 'api', 'read_model'])
      await db.query(
        `REVOKE ALL ON ALL TABLES IN SCHEMA ${schema} FROM dolly_api, dolly_projector, dolly_worker`,
      );
    await db.query(
      `REVOKE SELECT ON public.schema_migrations FROM dolly_api, dolly_projector, dolly_worker`,
    );
    await db.query(
      `REVOKE ALL ON SCHEMA event_store, api, read_model FROM dolly_api, dolly_projector, dolly_worker`,
    );
  }
}
