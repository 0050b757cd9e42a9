import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Read-model rows keep their aggregate's folded state. Events read since this release upcast to
 * new versions (DatastoreRegistered v2: adopted; VmCreated v2: poolId), so a rebuild folds states
 * that carry these fields: rows folded before get them too, as the upcasters give them, so that the
 * live read models equal a rebuild.
 */
export class ReadModelStatesV21764000000011 implements MigrationInterface {
  name = 'ReadModelStatesV21764000000011';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      UPDATE read_model.datastores SET state = state || '{"adopted": false}'::jsonb
       WHERE state->>'status' = 'registered' AND NOT state ? 'adopted'`);
    await db.query(`
      UPDATE read_model.vms
         SET state = state || jsonb_build_object('poolId',
               CASE WHEN state->'origin'->>'kind' = 'fork' THEN state->'origin'->'poolId' ELSE 'null'::jsonb END)
       WHERE NOT state ? 'poolId'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`UPDATE read_model.datastores SET state = state - 'adopted'`);
    await db.query(`UPDATE read_model.vms SET state = state - 'poolId'`);
  }
}
