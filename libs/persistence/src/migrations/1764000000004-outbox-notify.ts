import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Events in the outbox wake the relay at once: each statement that adds to it notifies
 * `dolly_outbox` when its transaction commits (PostgreSQL folds a transaction's notifications into
 * one). The relay then polls only as a fallback, rather than every few milliseconds.
 */
export class OutboxNotify1764000000004 implements MigrationInterface {
  name = 'OutboxNotify1764000000004';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION event_store.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('dolly_outbox', '');
        RETURN NULL;
      END
      $$`);
    await db.query(`
      CREATE TRIGGER outbox_added AFTER INSERT ON event_store.outbox
      FOR EACH STATEMENT EXECUTE FUNCTION event_store.notify_outbox()`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER outbox_added ON event_store.outbox`);
    await db.query(`DROP FUNCTION event_store.notify_outbox()`);
  }
}
