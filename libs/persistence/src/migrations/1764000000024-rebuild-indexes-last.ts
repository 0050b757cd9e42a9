import type { MigrationInterface, QueryRunner } from 'typeorm';
import { MAKE_DURABLE, prepareRebuild } from './1764000000023-unlogged-rebuilds';

/**
 * A rebuild keeps, while it replays, only the indexes the replay itself uses: each table's
 * primary key (rows are found and upserted by it). Every other index and unique constraint is
 * built once the table is durable, from the finished rows, sorted: a million audit-log rows then
 * cost one sort per index instead of a million random insertions into each.
 *
 * - `prepare_rebuild(suffix)`: the tables unlogged, with their primary keys only.
 * - `prepare_copy(suffix, table)`: a table the rebuild fills in one statement (the audit log,
 *   copied from the store) is made logged while it is empty (its rows are then written to the log
 *   once, as they are inserted, rather than once more by SET LOGGED) and keeps no index at all.
 * - `make_durable(suffix, table)`: the table logged, then every index and key of the live table it
 *   lacks, under its live name; `make_durable(suffix)` does so for every table.
 *
 * One function copies the live table's indexes a rebuilt table lacks (`copy_indexes`).
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
             AND NOT EXISTS (SELECT FROM pg_class had JOIN pg_namespace n ON n.oid = had.relnamespace
                              WHERE n.nspname = target AND had.relname = ic.relname)
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
      CREATE FUNCTION read_model_admin.rebuilt_table(suffix text, tbl name) RETURNS text
      LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
      BEGIN
        PERFORM read_model_admin.checked_suffix(suffix);
        IF tbl IS NULL OR NOT tbl = ANY (read_model_admin.rebuilt_tables()) THEN
          RAISE EXCEPTION 'A rebuild makes no table %', tbl USING ERRCODE = '22023';
        END IF;
        RETURN 'read_model_rebuild_' || suffix;
      END $$`);
    await db.query(`REVOKE ALL ON FUNCTION read_model_admin.rebuilt_table(text, name) FROM PUBLIC`);
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
    await db.query(`
      CREATE FUNCTION read_model_admin.prepare_copy(suffix text, tbl name) RETURNS void
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
      DECLARE
        target text := read_model_admin.rebuilt_table(suffix, tbl);
        idx record;
      BEGIN
        EXECUTE format('ALTER TABLE %I.%I SET LOGGED', target, tbl);
        FOR idx IN
          SELECT ic.relname AS index_name, con.conname
            FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
            LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
           WHERE x.indrelid = format('%I.%I', target, tbl)::regclass
        LOOP
          IF idx.conname IS NULL THEN
            EXECUTE format('DROP INDEX %I.%I', target, idx.index_name);
          ELSE
            EXECUTE format('ALTER TABLE %I.%I DROP CONSTRAINT %I', target, tbl, idx.conname);
          END IF;
        END LOOP;
      END $$`);
    // Logged first: SET LOGGED rewrites a table with its indexes, which are then built once only.
    await db.query(`
      CREATE FUNCTION read_model_admin.make_durable(suffix text, tbl name) RETURNS void
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET maintenance_work_mem = '256MB' AS $$
      DECLARE
        target text := read_model_admin.rebuilt_table(suffix, tbl);
        persistence "char";
      BEGIN
        SELECT c.relpersistence INTO persistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = target AND c.relname = tbl AND c.relkind = 'r';
        IF persistence IS NULL THEN
          RETURN;
        END IF;
        IF persistence = 'u' THEN
          EXECUTE format('ALTER TABLE %I.%I SET LOGGED', target, tbl);
        END IF;
        PERFORM read_model_admin.copy_indexes(target, tbl, true);
        PERFORM read_model_admin.copy_indexes(target, tbl, false);
      END $$`);
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
    for (const signature of ['prepare_copy(text, name)', 'make_durable(text, name)']) {
      await db.query(`REVOKE ALL ON FUNCTION read_model_admin.${signature} FROM PUBLIC`);
      await db.query(`GRANT EXECUTE ON FUNCTION read_model_admin.${signature} TO dolly_projector`);
    }
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`CREATE OR REPLACE ${MAKE_DURABLE}`);
    await db.query(`DROP FUNCTION read_model_admin.make_durable(text, name)`);
    await db.query(`DROP FUNCTION read_model_admin.prepare_copy(text, name)`);
    await db.query(prepareRebuild('UNLOGGED TABLE'));
    await db.query(`DROP FUNCTION read_model_admin.rebuilt_table(text, name)`);
    await db.query(`DROP FUNCTION read_model_admin.copy_indexes(text, name, boolean)`);
  }
}
