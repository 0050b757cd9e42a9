import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Desktop pools as the read side shows them: the pool's own state, and columns lists sort on. */
export class Pools1764000000002 implements MigrationInterface {
  name = 'Pools1764000000002';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE read_model.pools (
        pool_id uuid PRIMARY KEY,
        name text NOT NULL,
        lifecycle text NOT NULL,
        image_status text NOT NULL,
        machines integer NOT NULL,
        assigned integer NOT NULL,
        state jsonb NOT NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        version integer NOT NULL
      )`);
    // Instant clones by pool, for the pool's machine list.
    await db.query(
      `CREATE INDEX vms_pool ON read_model.vms ((state->'origin'->>'poolId'), vm_id) WHERE role = 'instant-clone'`,
    );
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX read_model.vms_pool`);
    await db.query(`DROP TABLE read_model.pools`);
  }
}
