import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tamper-evident history: every event is a link of two hash chains, made in the statement that
 * appends it (docs/architecture.md, "Tamper-evident history").
 *
 * - Its stream chain: stream_hash = SHA-256(the stream's previous stream_hash, or 32 zero bytes,
 *   || the event's content digest).
 * - The global chain, in the order appends commit: chain_hash = SHA-256(the previous chain_hash
 *   || chain_seq || global_position || stream_hash), chain_seq counting 1, 2, 3... with no gap.
 *
 * The content digest is SHA-256 over the event's fields as text, each preceded by its length in
 * bytes (4, big-endian): event_id, stream_id, stream_type, stream_version, type, schema_version,
 * data (jsonb's text), metadata (jsonb's text), occurred_at and recorded_at (microseconds since
 * the epoch). A verifier computes it from the row alone, trusting no function of the database.
 *
 * One chain head, locked by every appending statement before it inserts (a statement trigger),
 * orders the appending transactions: the global chain is the order they commit in. The apps
 * cannot write the chain: its functions run with the owner's rights (SECURITY DEFINER). The events
 * appended before this migration are chained here, in the order readers follow.
 */
export class EventChain1764000000018 implements MigrationInterface {
  name = 'EventChain1764000000018';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE event_store.event_chain (
        chain_seq bigint PRIMARY KEY CHECK (chain_seq > 0),
        global_position bigint NOT NULL,
        stream_id text NOT NULL,
        stream_version integer NOT NULL,
        stream_hash bytea NOT NULL,
        chain_hash bytea NOT NULL
      )`);
    await db.query(
      `CREATE UNIQUE INDEX event_chain_stream ON event_store.event_chain (stream_id, stream_version)`,
    );
    await db.query(
      `CREATE UNIQUE INDEX event_chain_position ON event_store.event_chain (global_position)`,
    );
    await db.query(`
      CREATE TABLE event_store.chain_head (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        chain_seq bigint NOT NULL,
        chain_hash bytea NOT NULL
      )`);
    await db.query(
      `INSERT INTO event_store.chain_head (chain_seq, chain_hash) VALUES (0, '\\x${'00'.repeat(32)}')`,
    );
    // Signed by a key the database never holds: an auditor checks a copy against them.
    await db.query(`
      CREATE TABLE event_store.chain_checkpoints (
        chain_seq bigint PRIMARY KEY,
        chain_hash bytea NOT NULL,
        signed_at timestamptz NOT NULL,
        key_id text NOT NULL,
        signature bytea NOT NULL
      )`);
    await db.query(`GRANT INSERT ON event_store.chain_checkpoints TO dolly_projector`);

    await db.query(`
      CREATE FUNCTION event_store.framed(field text) RETURNS bytea
      LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog AS $$
        SELECT int4send(length(bytes)) || bytes FROM convert_to(field, 'UTF8') AS bytes
      $$`);
    await db.query(`
      CREATE FUNCTION event_store.content_digest(e event_store.events) RETURNS bytea
      LANGUAGE sql STABLE SET search_path = pg_catalog, event_store AS $$
        SELECT sha256(
          framed(e.event_id::text) || framed(e.stream_id) || framed(e.stream_type) ||
          framed(e.stream_version::text) || framed(e.type) || framed(e.schema_version::text) ||
          framed(e.data::text) || framed(e.metadata::text) ||
          framed((extract(epoch FROM e.occurred_at) * 1000000)::bigint::text) ||
          framed((extract(epoch FROM e.recorded_at) * 1000000)::bigint::text))
      $$`);
    await db.query(`
      CREATE FUNCTION event_store.chain_event(e event_store.events) RETURNS void
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, event_store AS $$
      DECLARE
        previous bytea;
        linked bytea;
        head event_store.chain_head;
      BEGIN
        SELECT stream_hash INTO previous FROM event_store.event_chain
         WHERE stream_id = e.stream_id AND stream_version = e.stream_version - 1;
        linked := sha256(coalesce(previous, '\\x${'00'.repeat(32)}'::bytea) || content_digest(e));
        UPDATE event_store.chain_head
           SET chain_seq = chain_seq + 1,
               chain_hash = sha256(chain_hash || int8send(chain_seq + 1) || int8send(e.global_position) || linked)
         RETURNING * INTO head;
        INSERT INTO event_store.event_chain
          VALUES (head.chain_seq, e.global_position, e.stream_id, e.stream_version, linked, head.chain_hash);
      END $$`);
    await db.query(`
      CREATE FUNCTION event_store.chain_appended() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, event_store AS $$
      BEGIN
        PERFORM chain_event(NEW);
        RETURN NULL;
      END $$`);
    // Taken before the first row goes in: a transaction never holds a new event's key while it
    // waits for the head (two appenders racing for one stream version would deadlock).
    await db.query(`
      CREATE FUNCTION event_store.chain_lock() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, event_store AS $$
      BEGIN
        PERFORM FROM event_store.chain_head FOR UPDATE;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER events_chain_lock BEFORE INSERT ON event_store.events
      FOR EACH STATEMENT EXECUTE FUNCTION event_store.chain_lock()`);
    await db.query(`
      CREATE TRIGGER events_chain AFTER INSERT ON event_store.events
      FOR EACH ROW EXECUTE FUNCTION event_store.chain_appended()`);
    await db.query(`REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA event_store FROM PUBLIC`);

    await db.query(`LOCK TABLE event_store.events IN SHARE MODE`);
    await db.query(`
      DO $$
      DECLARE e event_store.events;
      BEGIN
        FOR e IN SELECT * FROM event_store.events ORDER BY transaction_id, global_position LOOP
          PERFORM event_store.chain_event(e);
        END LOOP;
      END $$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER events_chain ON event_store.events`);
    await db.query(`DROP TRIGGER events_chain_lock ON event_store.events`);
    await db.query(`DROP FUNCTION event_store.chain_lock()`);
    await db.query(`DROP FUNCTION event_store.chain_appended()`);
    await db.query(`DROP FUNCTION event_store.chain_event(event_store.events)`);
    await db.query(`DROP FUNCTION event_store.content_digest(event_store.events)`);
    await db.query(`DROP FUNCTION event_store.framed(text)`);
    await db.query(`DROP TABLE event_store.chain_checkpoints`);
    await db.query(`DROP TABLE event_store.chain_head`);
    await db.query(`DROP TABLE event_store.event_chain`);
  }
}
