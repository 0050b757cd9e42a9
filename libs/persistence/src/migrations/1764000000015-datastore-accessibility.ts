import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Whether a datastore can be reached, as vSphere shows an inaccessible datastore: `inaccessible`
 * while a worker cannot open its folder (DatastoreInaccessible), with the reasons. Datastores
 * registered before were never reported otherwise: accessible.
 */
export class DatastoreAccessibility1764000000015 implements MigrationInterface {
  name = 'DatastoreAccessibility1764000000015';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE read_model.datastores
        ADD COLUMN accessibility text NOT NULL DEFAULT 'accessible'
          CHECK (accessibility IN ('accessible', 'inaccessible')),
        ADD COLUMN accessibility_reason text`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE read_model.datastores
        DROP COLUMN accessibility_reason,
        DROP COLUMN accessibility`);
  }
}
