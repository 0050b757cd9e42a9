import type { MigrationInterface, QueryRunner } from 'typeorm';
import { MAKE_DURABLE, prepareRebuild } from './1764000000023-unlogged-rebuilds';

/**
 * A rebuild keeps, while it replays, only the indexes the replay itself uses: each table's
 * primary key (rows are found and upserted by it). Every other index and unique constraint is
 * built once the tables are durable, from the finished rows, sorted: a million audit-log rows
 * then cost one sort per index instead of a million random insertions into each (`make_durable`,
 * which runs before anything but the switch-over's last events reads the tables; a table at a
 * time, with `make_durable(suffix, table)`).
 *
 * One function copies the live table's indexes, under their names, primary keys or the others
 * (`copy_indexes`); `prepare_rebuild` and `make_durable` both call it.
 */
export class RebuildIndexesLast1764000000024 implements MigrationInterface {
  name = 'RebuildIndexesLast1764000000024';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION read_model_admin.copy_indexes(target text, tbl name, primary_keys boolean)
      RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
      DECLARE
        idx record;
      BEGIN
        FOR idx IN
          SELECT ic.relname AS index_name, pg_get_indexdef(x.indexrelid) AS definition,
                 con.conname, con.contype
            FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
            LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
           WHERE x.indrelid = format('read_model.%I', tbl)::regclass
             AND x.indisprimary = primary_keys
           ORDER BY ic.relname
        LOOP
          EXECUTE regexp_replace(idx.definition, ' ON read_model\\.', ' ON ' || quote_ident(target) || '.');
          IF idx.contype IN ('p', 'u') THEN
            EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s USING INDEX %I', target, tbl,
              idx.conname, CASE idx.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, idx.index_name);
          END IF;
        END LOOP;
      END $$`);
    await db.query(
      `REVOKE ALL ON FUNCTION read_model_admin.copy_indexes(text, name, boolean) FROM PUBLIC`,
    );
    await db.query(`
      CREATE OR REPLACE FUNCTION read_model_admin.prepare_rebuild(suffix text) RETURNS text
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
      DECLARE
        target text := 'read_model_rebuild_' || read_model_admin.checked_suffix(suffix);
        tbl name;
      BEGIN
        EXECUTE format('CREATE SCHEMA %I', target);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO dolly_projector', target);
        FOREACH tbl IN ARRAY read_model_admin.rebuilt_tables() LOOP
          EXECUTE format('CREATE UNLOGGED TABLE %I.%I (LIKE read_model.%I INCLUDING ALL EXCLUDING INDEXES)',
            target, tbl, tbl);
          PERFORM read_model_admin.copy_indexes(target, tbl, true);
          EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO dolly_projector', target, tbl);
        END LOOP;
        RETURN target;
      END $$`);
    // Logged first: SET LOGGED rewrites a table with its indexes, which are then built once only.
    // One table at a time, too, so a rebuild may finish one while it replays into the others.
    await db.query(`
      CREATE FUNCTION read_model_admin.make_durable(suffix text, tbl name) RETURNS void
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET maintenance_work_mem = '256MB' AS $$
      DECLARE
        target text := 'read_model_rebuild_' || read_model_admin.checked_suffix(suffix);
      BEGIN
        IF tbl IS NULL OR NOT tbl = ANY (read_model_admin.rebuilt_tables()) THEN
          RAISE EXCEPTION 'A rebuild makes no table %', tbl USING ERRCODE = '22023';
        END IF;
        IF (SELECT c.relpersistence = 'u' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = target AND c.relname = tbl AND c.relkind = 'r') THEN
          EXECUTE format('ALTER TABLE %I.%I SET LOGGED', target, tbl);
          PERFORM read_model_admin.copy_indexes(target, tbl, false);
        END IF;
      END $$`);
    await db.query(`REVOKE ALL ON FUNCTION read_model_admin.make_durable(text, name) FROM PUBLIC`);
    await db.query(
      `GRANT EXECUTE ON FUNCTION read_model_admin.make_durable(text, name) TO dolly_projector`,
    );
    await db.query(`
      CREATE OR REPLACE FUNCTION read_model_admin.make_durable(suffix text) RETURNS void
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
      DECLARE
        tbl name;
      BEGIN
        FOREACH tbl IN ARRAY read_model_admin.rebuilt_tables() LOOP
          PERFORM read_model_admin.make_durable(suffix, tbl);
        END LOOP;
      END $$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`CREATE OR REPLACE ${MAKE_DURABLE}`);
    await db.query(`DROP FUNCTION read_model_admin.make_durable(text, name)`);
    await db.query(prepareRebuild('UNLOGGED TABLE'));
    await db.query(`DROP FUNCTION read_model_admin.copy_indexes(text, name, boolean)`);
  }
}
