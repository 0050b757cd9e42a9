import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every stream of a kind, found from its first event: a decision that must see all datastores
 * (no two may share a folder) lists them in the store, under a lock, rather than trusting a read
 * model that may lag. One index row per stream.
 */
export class StreamStarts1764000000010 implements MigrationInterface {
  name = 'StreamStarts1764000000010';

  async up(db: QueryRunner): Promise<void> {
    await db.query(
      `CREATE INDEX events_stream_starts ON event_store.events (stream_type, stream_id) WHERE stream_version = 1`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX event_store.events_stream_starts`);
  }
}
