import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Lineage is read from the audit log (`GET /vms/{id}/lineage`): a VM's descendants are the VMs
 * whose VmCreated names it as their source (a clone's) or parent (a fork's), found by this index.
 */
export class Lineage1764000000020 implements MigrationInterface {
  name = 'Lineage1764000000020';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE INDEX audit_log_derives_from ON read_model.audit_log
        ((coalesce(data->'origin'->>'sourceVmId', data->'origin'->>'parentVmId')))
        WHERE type = 'VmCreated'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX read_model.audit_log_derives_from`);
  }
}
