import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A rebuild replays into unlogged tables (no write-ahead log for each of the many times a row is
 * rewritten on the way), made durable once, whole, before the switch-over (`make_durable`): a
 * crash meanwhile loses only the rebuild, which a rebuild's next attempt starts again anyway.
 * `prepare_rebuild` as migration 021 made it, but for UNLOGGED.
 */
export class UnloggedRebuilds1764000000023 implements MigrationInterface {
  name = 'UnloggedRebuilds1764000000023';

  async up(db: QueryRunner): Promise<void> {
    await db.query(prepareRebuild('UNLOGGED TABLE'));
    await db.query(`CREATE ${MAKE_DURABLE}`);
    await db.query(`REVOKE ALL ON FUNCTION read_model_admin.make_durable(text) FROM PUBLIC`);
    await db.query(
      `GRANT EXECUTE ON FUNCTION read_model_admin.make_durable(text) TO dolly_projector`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP FUNCTION read_model_admin.make_durable(text)`);
    await db.query(prepareRebuild('TABLE'));
  }
}

/** `make_durable` as this migration made it (`CREATE` or `CREATE OR REPLACE` goes before). */
export const MAKE_DURABLE = `
      FUNCTION read_model_admin.make_durable(suffix text) RETURNS void
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
      DECLARE
        target text := 'read_model_rebuild_' || read_model_admin.checked_suffix(suffix);
        tbl name;
      BEGIN
        FOR tbl IN
          SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = target AND c.relkind = 'r' AND c.relpersistence = 'u'
        LOOP
          EXECUTE format('ALTER TABLE %I.%I SET LOGGED', target, tbl);
        END LOOP;
      END $$`;

/** `prepare_rebuild` (see migration 021), making its tables as `kind`: TABLE or UNLOGGED TABLE. */
export function prepareRebuild(kind: 'TABLE' | 'UNLOGGED TABLE'): string {
  return `
    CREATE OR REPLACE FUNCTION read_model_admin.prepare_rebuild(suffix text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
    DECLARE
      target text := 'read_model_rebuild_' || read_model_admin.checked_suffix(suffix);
      tbl name;
      idx record;
    BEGIN
      EXECUTE format('CREATE SCHEMA %I', target);
      EXECUTE format('GRANT USAGE ON SCHEMA %I TO dolly_projector', target);
      FOREACH tbl IN ARRAY read_model_admin.rebuilt_tables() LOOP
        EXECUTE format('CREATE ${kind} %I.%I (LIKE read_model.%I INCLUDING ALL EXCLUDING INDEXES)',
          target, tbl, tbl);
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
    END $$`;
}
