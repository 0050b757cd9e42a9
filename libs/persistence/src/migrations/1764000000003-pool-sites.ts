import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pools with several hosts and datastores (PoolCreated v2): the pools read model keeps each pool's
 * folded state, so rows folded before are rewritten in the new shape, as a rebuild from the store
 * (which reads v1 events as v2) would fold them. An image's one replica and one parent become lists
 * of one, and each machine names the parent it was forked from: its image's parent.
 */
export class PoolSites1764000000003 implements MigrationInterface {
  name = 'PoolSites1764000000003';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE OR REPLACE FUNCTION pg_temp.pool_image_v2(image jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN jsonb_typeof(image) IS DISTINCT FROM 'object' OR image ? 'parents' THEN image
        ELSE jsonb_build_object(
          'goldenVmId', image->'goldenVmId',
          'snapshotId', image->'snapshotId',
          'templateVmId', image->'templateVmId',
          'replicas', jsonb_build_array(jsonb_build_object(
            'datastoreId', image->'datastoreId', 'replicaVmId', image->'replicaVmId')),
          'parents', jsonb_build_array(jsonb_build_object(
            'hostId', image->'hostId', 'datastoreId', image->'datastoreId',
            'parentVmId', image->'parentVmId')),
          'taskId', image->'taskId')
        END
      $$`);
    await db.query(`
      UPDATE read_model.pools SET state = state || jsonb_build_object(
        'image', pg_temp.pool_image_v2(state->'image'),
        'previousImage', pg_temp.pool_image_v2(state->'previousImage'),
        'push', CASE WHEN jsonb_typeof(state->'push') = 'object'
          THEN state->'push' || jsonb_build_object('image', pg_temp.pool_image_v2(state->'push'->'image'))
          ELSE state->'push' END)
      WHERE state->>'status' = 'present'`);
    await db.query(`
      UPDATE read_model.pools SET state = jsonb_set(state, '{machines}', COALESCE((
        SELECT jsonb_agg(
          CASE WHEN machine ? 'parentVmId' THEN machine
          ELSE machine || jsonb_build_object('parentVmId', COALESCE(
            (SELECT vm.state->'origin'->'parentVmId' FROM read_model.vms AS vm
              WHERE vm.vm_id = (machine->>'vmId')::uuid AND vm.state->'origin'->>'kind' = 'fork'),
            (SELECT image->'parents'->0->'parentVmId'
              FROM jsonb_array_elements(jsonb_build_array(state->'image', state->'previousImage')) AS image
              WHERE image->>'taskId' = machine->>'imageTaskId' LIMIT 1),
            (SELECT vm->'vmId' FROM jsonb_array_elements(state->'internalVms') AS vm
              WHERE vm->>'role' = 'parent' AND vm->>'imageTaskId' = machine->>'imageTaskId' LIMIT 1),
            state->'image'->'parents'->0->'parentVmId'))
          END ORDER BY position)
        FROM jsonb_array_elements(state->'machines') WITH ORDINALITY AS m(machine, position)
      ), '[]'::jsonb))
      WHERE state->>'status' = 'present'`);
  }

  async down(db: QueryRunner): Promise<void> {
    const [{ count }] = (await db.query(`
      SELECT count(*)::int AS count FROM read_model.pools
      WHERE jsonb_array_length(state->'image'->'parents') > 1`)) as { count: number }[];
    if (count > 0)
      throw new Error(
        `${count} pools stand on several hosts or datastores: the earlier shape cannot hold them`,
      );
    await db.query(`
      CREATE OR REPLACE FUNCTION pg_temp.pool_image_v1(image jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN jsonb_typeof(image) IS DISTINCT FROM 'object' OR NOT image ? 'parents' THEN image
        ELSE jsonb_build_object(
          'goldenVmId', image->'goldenVmId',
          'snapshotId', image->'snapshotId',
          'templateVmId', image->'templateVmId',
          'replicaVmId', image->'replicas'->0->'replicaVmId',
          'parentVmId', image->'parents'->0->'parentVmId',
          'hostId', image->'parents'->0->'hostId',
          'datastoreId', image->'parents'->0->'datastoreId',
          'taskId', image->'taskId')
        END
      $$`);
    await db.query(`
      UPDATE read_model.pools SET state = state || jsonb_build_object(
        'image', pg_temp.pool_image_v1(state->'image'),
        'previousImage', pg_temp.pool_image_v1(state->'previousImage'),
        'push', CASE WHEN jsonb_typeof(state->'push') = 'object'
          THEN state->'push' || jsonb_build_object('image', pg_temp.pool_image_v1(state->'push'->'image'))
          ELSE state->'push' END,
        'machines', COALESCE((
          SELECT jsonb_agg(machine - 'parentVmId' ORDER BY position)
          FROM jsonb_array_elements(state->'machines') WITH ORDINALITY AS m(machine, position)
        ), '[]'::jsonb))
      WHERE state->>'status' = 'present'`);
  }
}
