import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A task that failed for several reasons at once (a refused OVF package) shows every one of them
 * (TaskFailed v2); tasks that failed before had one code and message: no reasons listed.
 */
export class TaskFailureReasons1764000000017 implements MigrationInterface {
  name = 'TaskFailureReasons1764000000017';

  async up(db: QueryRunner): Promise<void> {
    await db.query(
      `ALTER TABLE read_model.tasks ADD COLUMN error_reasons jsonb NOT NULL DEFAULT '[]'::jsonb`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE read_model.tasks DROP COLUMN error_reasons`);
  }
}
