import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The write side: the event store (append-only), its outbox, and the API's idempotency keys.
 *
 * Global order: `global_position` comes from a sequence, so a later position can commit before an
 * earlier one. Readers therefore follow (transaction_id, global_position) and only read rows whose
 * transaction is older than every transaction still running (pg_snapshot_xmin): a row can never
 * appear later below a reader's checkpoint.
 */
export class EventStore1764000000000 implements MigrationInterface {
  name = 'EventStore1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE SCHEMA event_store`);
    await db.query(`
      CREATE TABLE event_store.events (
        global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        event_id uuid NOT NULL,
        stream_id text NOT NULL,
        stream_type text NOT NULL,
        stream_version integer NOT NULL CHECK (stream_version > 0),
        type text NOT NULL,
        schema_version integer NOT NULL CHECK (schema_version > 0),
        data jsonb NOT NULL,
        metadata jsonb NOT NULL,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
      )`);
    await db.query(
      `CREATE INDEX events_global_order ON event_store.events (transaction_id, global_position)`,
    );
    // GET /tasks/{id} reads a task's events before the projector has them.
    await db.query(
      `CREATE INDEX events_task ON event_store.events ((metadata->>'taskId')) WHERE metadata->>'taskId' IS NOT NULL`,
    );
    // History is immutable: a correction is a new event, never an edit.
    await db.query(`
      CREATE FUNCTION event_store.refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'event_store.events is append-only (% refused)', TG_OP USING ERRCODE = 'restrict_violation';
      END $$`);
    await db.query(`
      CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON event_store.events
      FOR EACH ROW EXECUTE FUNCTION event_store.refuse_history_change()`);
    await db.query(`
      CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON event_store.events
      FOR EACH STATEMENT EXECUTE FUNCTION event_store.refuse_history_change()`);
    await db.query(`
      CREATE TABLE event_store.outbox (
        global_position bigint PRIMARY KEY,
        transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp()
      )`);
    await db.query(
      `CREATE INDEX outbox_global_order ON event_store.outbox (transaction_id, global_position)`,
    );
    await db.query(`CREATE SCHEMA api`);
    await db.query(`
      CREATE TABLE api.idempotency_keys (
        principal text NOT NULL,
        idempotency_key text NOT NULL,
        request_fingerprint text NOT NULL,
        response_status integer NOT NULL,
        response_headers jsonb NOT NULL,
        response_body jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (principal, idempotency_key)
      )`);
    await db.query(`CREATE INDEX idempotency_keys_created_at ON api.idempotency_keys (created_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP SCHEMA api CASCADE`);
    await db.query(`DROP SCHEMA event_store CASCADE`);
  }
}
