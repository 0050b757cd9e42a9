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

    // Plain expressions, every name qualified (EXTRACT and COALESCE are grammar), no settings
    // of their own: PostgreSQL inlines them into the statement that chains (a function it must
    // call is ten times slower per event).
    await db.query(`
      CREATE FUNCTION event_store.framed(field text) RETURNS bytea
      LANGUAGE sql IMMUTABLE AS $$
        SELECT pg_catalog.int4send(pg_catalog.octet_length(field)) OPERATOR(pg_catalog.||)
               pg_catalog.convert_to(field, 'UTF8')
      $$`);
    await db.query(`
      CREATE FUNCTION event_store.content_digest(e event_store.events) RETURNS bytea
      LANGUAGE sql STABLE AS $$
        SELECT pg_catalog.sha256(
          event_store.framed(e.event_id::text) OPERATOR(pg_catalog.||)
          event_store.framed(e.stream_id) OPERATOR(pg_catalog.||)
          event_store.framed(e.stream_type) OPERATOR(pg_catalog.||)
          event_store.framed(e.stream_version::text) OPERATOR(pg_catalog.||)
          event_store.framed(e.type) OPERATOR(pg_catalog.||)
          event_store.framed(e.schema_version::text) OPERATOR(pg_catalog.||)
          event_store.framed(e.data::text) OPERATOR(pg_catalog.||)
          event_store.framed(e.metadata::text) OPERATOR(pg_catalog.||)
          event_store.framed(((extract(epoch FROM e.occurred_at) OPERATOR(pg_catalog.*) 1000000)::bigint)::text) OPERATOR(pg_catalog.||)
          event_store.framed(((extract(epoch FROM e.recorded_at) OPERATOR(pg_catalog.*) 1000000)::bigint)::text))
      $$`);
    // A hash chain as a running aggregate: each row's value is SHA-256(the previous row's value, or
    // `start` for the first, || its link). As a window function it chains a whole batch in one
    // statement, a stream's events by version and the global chain by position.
    await db.query(`
      CREATE FUNCTION event_store.hash_chain_step(state bytea, start bytea, link bytea) RETURNS bytea
      LANGUAGE sql IMMUTABLE AS $$
        SELECT pg_catalog.sha256(coalesce(state, start) OPERATOR(pg_catalog.||) link)
      $$`);
    await db.query(`
      CREATE AGGREGATE event_store.hash_chain(bytea, bytea) (
        SFUNC = event_store.hash_chain_step, STYPE = bytea)`);
    // The links of a batch of events (a statement's, in the order they were numbered), set-based:
    // one read and one write of the head for all of them.
    await db.query(`
      CREATE FUNCTION event_store.chain_events(appended event_store.events[]) RETURNS void
      LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, event_store AS $$
        WITH head AS (
          SELECT chain_seq, chain_hash FROM chain_head FOR UPDATE
        ), batch AS (
          SELECT e.global_position, e.stream_id, e.stream_version, content_digest(e) AS digest,
                 row_number() OVER (ORDER BY e.global_position) AS n,
                 min(e.stream_version) OVER (PARTITION BY e.stream_id) AS first_version
            FROM unnest(appended) AS e
        ), streamed AS (
          SELECT b.*, hash_chain(coalesce(p.stream_hash, '\\x${'00'.repeat(32)}'::bytea), b.digest)
                        OVER (PARTITION BY b.stream_id ORDER BY b.stream_version) AS stream_hash
            FROM batch b
            LEFT JOIN event_chain p ON p.stream_id = b.stream_id AND p.stream_version = b.first_version - 1
        ), linked AS (
          SELECT s.global_position, s.stream_id, s.stream_version, s.stream_hash,
                 h.chain_seq + s.n AS chain_seq,
                 hash_chain(h.chain_hash, int8send(h.chain_seq + s.n) || int8send(s.global_position) || s.stream_hash)
                   OVER (ORDER BY s.n) AS chain_hash
            FROM streamed s CROSS JOIN head h
        ), inserted AS (
          INSERT INTO event_chain (chain_seq, global_position, stream_id, stream_version, stream_hash, chain_hash)
          SELECT chain_seq, global_position, stream_id, stream_version, stream_hash, chain_hash FROM linked
        )
        UPDATE chain_head SET chain_seq = last.chain_seq, chain_hash = last.chain_hash
          FROM (SELECT chain_seq, chain_hash FROM linked ORDER BY chain_seq DESC LIMIT 1) AS last
      $$`);
    await db.query(`
      CREATE FUNCTION event_store.chain_appended() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, event_store AS $$
      BEGIN
        PERFORM chain_events(ARRAY(SELECT a::event_store.events FROM appended a ORDER BY a.global_position));
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
      REFERENCING NEW TABLE AS appended
      FOR EACH STATEMENT EXECUTE FUNCTION event_store.chain_appended()`);
    await db.query(`REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA event_store FROM PUBLIC`);

    // The history so far, in the order readers follow, a batch at a time.
    await db.query(`LOCK TABLE event_store.events IN SHARE MODE`);
    await db.query(`
      DO $$
      DECLARE
        last_transaction xid8 := '0';
        last_position bigint := 0;
        batch event_store.events[];
      BEGIN
        LOOP
          batch := ARRAY(
            SELECT e FROM event_store.events e
             WHERE (e.transaction_id, e.global_position) > (last_transaction, last_position)
             ORDER BY e.transaction_id, e.global_position LIMIT 10000);
          EXIT WHEN cardinality(batch) = 0;
          PERFORM event_store.chain_events(batch);
          last_transaction := batch[cardinality(batch)].transaction_id;
          last_position := batch[cardinality(batch)].global_position;
        END LOOP;
      END $$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER events_chain ON event_store.events`);
    await db.query(`DROP TRIGGER events_chain_lock ON event_store.events`);
    await db.query(`DROP FUNCTION event_store.chain_lock()`);
    await db.query(`DROP FUNCTION event_store.chain_appended()`);
    await db.query(`DROP FUNCTION event_store.chain_events(event_store.events[])`);
    await db.query(`DROP AGGREGATE event_store.hash_chain(bytea, bytea)`);
    await db.query(`DROP FUNCTION event_store.hash_chain_step(bytea, bytea, bytea)`);
    await db.query(`DROP FUNCTION event_store.content_digest(event_store.events)`);
    await db.query(`DROP FUNCTION event_store.framed(text)`);
    await db.query(`DROP TABLE event_store.chain_checkpoints`);
    await db.query(`DROP TABLE event_store.chain_head`);
    await db.query(`DROP TABLE event_store.event_chain`);
  }
}
