import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Blue/green rebuilds of the read models (`dolly admin rebuild`): a projector replays the whole
 * history into fresh tables while the live ones serve, then switches over to them in one short
 * transaction. Making and moving tables is the owner's right, never an app's: the projector is
 * granted these three functions, which run with the owner's rights and do nothing else.
 *
 * - `prepare_rebuild(suffix)` makes `read_model_rebuild_<suffix>` holding an empty copy of each
 *   table a rebuild reproduces (every read-model table but `task_progress` and
 *   `projector_offsets`, which hold what no event says): columns, defaults, checks, and each index
 *   and key under its own name.
 * - `switch_over(suffix)` moves each live table into `read_model_retired_<suffix>` and its rebuilt
 *   copy into `read_model`, with the rights the live one had, holding every live table and the
 *   lock that the projector's writes take shared (`try_lock_for_switch`, all or nothing): a
 *   projector's batch commits wholly before it or wholly after.
 * - `discard(schema)` drops a rebuild's or a retired schema (never the live one).
 *
 * Whoever writes the live read models takes `lock_for_write()` first in its transaction (shared:
 * writers do not wait for each other); a switch-over takes it exclusive, with every live table.
 *
 * A suffix is 1 to 32 lower-case letters, digits or underscores: nothing else reaches a name.
 *
 * A rebuild is a task the projector runs itself: it records its attempt and its end in the task's
 * stream, as a worker does, and so may now append events (with their outbox rows).
 */
export class ReadModelSwitch1764000000021 implements MigrationInterface {
  name = 'ReadModelSwitch1764000000021';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE SCHEMA read_model_admin`);
    await db.query(`
      CREATE FUNCTION read_model_admin.rebuilt_tables() RETURNS name[]
      LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
        SELECT coalesce(array_agg(c.relname ORDER BY c.relname), '{}')
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'read_model' AND c.relkind = 'r'
           AND c.relname NOT IN ('task_progress', 'projector_offsets')
      $$`);
    // One advisory lock key, here only.
    await db.query(`
      CREATE FUNCTION read_model_admin.lock_for_write() RETURNS void
      LANGUAGE sql VOLATILE SET search_path = pg_catalog AS $$
        SELECT pg_advisory_xact_lock_shared(8245663097260212021)
      $$`);
    await db.query(`
      CREATE FUNCTION read_model_admin.checked_suffix(suffix text) RETURNS text
      LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog AS $$
      BEGIN
        IF suffix IS NULL OR suffix !~ '^[a-z0-9_]{1,32}$' THEN
          RAISE EXCEPTION 'A rebuild''s suffix is 1 to 32 of a-z, 0-9 and _: %', suffix
            USING ERRCODE = '22023';
        END IF;
        RETURN suffix;
      END $$`);
    // Never waits while it holds anything: all or nothing, so that neither a reader holding one
    // table while it asks for another nor a projector's batch can deadlock with a switch-over.
    await db.query(`
      CREATE FUNCTION read_model_admin.try_lock_for_switch() RETURNS boolean
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
      DECLARE
        tbl name;
      BEGIN
        IF NOT pg_try_advisory_xact_lock(8245663097260212021) THEN
          RETURN false;
        END IF;
        FOREACH tbl IN ARRAY read_model_admin.rebuilt_tables() LOOP
          EXECUTE format('LOCK TABLE read_model.%I IN ACCESS EXCLUSIVE MODE NOWAIT', tbl);
        END LOOP;
        RETURN true;
      EXCEPTION WHEN lock_not_available THEN
        -- The block's rollback let go of what it had taken.
        RETURN false;
      END $$`);
    await db.query(`
      CREATE FUNCTION read_model_admin.prepare_rebuild(suffix text) RETURNS text
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
      DECLARE
        target text := 'read_model_rebuild_' || read_model_admin.checked_suffix(suffix);
        tbl name;
        idx record;
      BEGIN
        EXECUTE format('CREATE SCHEMA %I', target);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO dolly_projector', target);
        FOREACH tbl IN ARRAY read_model_admin.rebuilt_tables() LOOP
          EXECUTE format('CREATE TABLE %I.%I (LIKE read_model.%I INCLUDING ALL EXCLUDING INDEXES)',
            target, tbl, tbl);
          -- Each index under the name the live one has (a later migration names it), keys too.
          FOR idx IN
            SELECT ic.relname AS index_name, pg_get_indexdef(x.indexrelid) AS definition,
                   con.conname, con.contype
              FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
              LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
             WHERE x.indrelid = format('read_model.%I', tbl)::regclass
          LOOP
            EXECUTE regexp_replace(idx.definition, ' ON read_model\\.', ' ON ' || quote_ident(target) || '.');
            IF idx.contype IN ('p', 'u') THEN
              EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s USING INDEX %I', target, tbl,
                idx.conname, CASE idx.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, idx.index_name);
            END IF;
          END LOOP;
          EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO dolly_projector', target, tbl);
        END LOOP;
        RETURN target;
      END $$`);
    await db.query(`
      CREATE FUNCTION read_model_admin.switch_over(suffix text) RETURNS void
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
      DECLARE
        fresh text := 'read_model_rebuild_' || read_model_admin.checked_suffix(suffix);
        retired text := 'read_model_retired_' || suffix;
        tables name[] := read_model_admin.rebuilt_tables();
        tbl name;
        grant_row record;
      BEGIN
        IF NOT read_model_admin.try_lock_for_switch() THEN
          RAISE EXCEPTION 'The live read models are in use: the switch-over tries again'
            USING ERRCODE = '55P03';
        END IF;
        IF (SELECT coalesce(array_agg(c.relname ORDER BY c.relname), '{}')
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = fresh AND c.relkind = 'r') IS DISTINCT FROM tables THEN
          RAISE EXCEPTION 'Schema % does not hold the tables a rebuild makes', fresh
            USING ERRCODE = '55000';
        END IF;
        EXECUTE format('CREATE SCHEMA %I', retired);
        FOREACH tbl IN ARRAY tables LOOP
          EXECUTE format('ALTER TABLE read_model.%I SET SCHEMA %I', tbl, retired);
          EXECUTE format('ALTER TABLE %I.%I SET SCHEMA read_model', fresh, tbl);
          EXECUTE format('REVOKE ALL ON read_model.%I FROM dolly_projector', tbl);
          FOR grant_row IN
            SELECT a.privilege_type,
                   CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee
              FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = format('%I.%I', retired, tbl)::regclass AND a.grantee <> c.relowner
          LOOP
            EXECUTE format('GRANT %s ON read_model.%I TO %s', grant_row.privilege_type, tbl, grant_row.grantee);
          END LOOP;
        END LOOP;
        EXECUTE format('DROP SCHEMA %I', fresh);
      END $$`);
    await db.query(`
      CREATE FUNCTION read_model_admin.discard(schema_name text) RETURNS void
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
      BEGIN
        IF schema_name IS NULL OR schema_name !~ '^read_model_(rebuild|retired)_[a-z0-9_]{1,32}$' THEN
          RAISE EXCEPTION 'Only a rebuild''s or a retired schema is discarded, not %', schema_name
            USING ERRCODE = '22023';
        END IF;
        EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', schema_name);
      END $$`);
    await db.query(`REVOKE ALL ON ALL FUNCTIONS IN SCHEMA read_model_admin FROM PUBLIC`);
    await db.query(`GRANT USAGE ON SCHEMA read_model_admin TO dolly_projector`);
    await db.query(
      `GRANT EXECUTE ON FUNCTION read_model_admin.prepare_rebuild(text), read_model_admin.switch_over(text),
         read_model_admin.discard(text), read_model_admin.lock_for_write(),
         read_model_admin.try_lock_for_switch()
         TO dolly_projector`,
    );

    await db.query(`GRANT INSERT ON event_store.events, event_store.outbox TO dolly_projector`);

    // A rebuild reports progress in events replayed, with its rate; a worker's, in bytes.
    await db.query(`ALTER TABLE read_model.task_progress RENAME COLUMN done_bytes TO done`);
    await db.query(`ALTER TABLE read_model.task_progress RENAME COLUMN total_bytes TO total`);
    await db.query(`
      ALTER TABLE read_model.task_progress
        ADD COLUMN unit text NOT NULL DEFAULT 'bytes' CHECK (unit IN ('bytes', 'events')),
        ADD COLUMN per_second double precision`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE read_model.task_progress DROP COLUMN unit, DROP COLUMN per_second`);
    await db.query(`ALTER TABLE read_model.task_progress RENAME COLUMN done TO done_bytes`);
    await db.query(`ALTER TABLE read_model.task_progress RENAME COLUMN total TO total_bytes`);
    await db.query(`REVOKE INSERT ON event_store.events, event_store.outbox FROM dolly_projector`);
    await db.query(`DROP SCHEMA read_model_admin CASCADE`);
  }
}
