import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Workers learn the datastores they serve from the datastores' streams in the event store, not
 * from the projector's table (which may lag, or be down): they need no read model at all.
 */
export class WorkerReadsNoReadModel1764000000016 implements MigrationInterface {
  name = 'WorkerReadsNoReadModel1764000000016';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`REVOKE SELECT ON read_model.datastores FROM dolly_worker`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`GRANT SELECT ON read_model.datastores TO dolly_worker`);
  }
}
