import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit log as auditors export it (`GET /audit`): each entry names the command that caused it
 * (its metadata's `command`, null for what Dolly did of itself), and is found by principal, by
 * correlation and in the order the store recorded it without reading the whole log.
 */
export class AuditLogExport1764000000019 implements MigrationInterface {
  name = 'AuditLogExport1764000000019';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE read_model.audit_log ADD COLUMN command text`);
    await db.query(`
      UPDATE read_model.audit_log a SET command = e.metadata->>'command'
        FROM event_store.events e WHERE e.event_id = a.event_id`);
    await db.query(
      `CREATE UNIQUE INDEX audit_log_position ON read_model.audit_log (global_position)`,
    );
    await db.query(
      `CREATE INDEX audit_log_actor ON read_model.audit_log (actor_id, global_position)`,
    );
    await db.query(`CREATE INDEX audit_log_correlation ON read_model.audit_log (correlation_id)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX read_model.audit_log_correlation`);
    await db.query(`DROP INDEX read_model.audit_log_actor`);
    await db.query(`DROP INDEX read_model.audit_log_position`);
    await db.query(`ALTER TABLE read_model.audit_log DROP COLUMN command`);
  }
}
