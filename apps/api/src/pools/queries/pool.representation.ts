import { POOL_ROLLOUT, PoolImage, PoolSettings, StringEnum, isOutdated } from '@dolly/domain';
import type { PoolRow } from '@dolly/read-models';
import { type Static, Type } from '@sinclair/typebox';

const Uuid = Type.String({ format: 'uuid' });

export const PoolView = Type.Object(
  {
    poolId: Uuid,
    settings: PoolSettings,
    image: PoolImage,
    imageStatus: Type.String({ description: 'building, published or failed.' }),
    push: Type.Union(
      [
        Type.Object({
          image: PoolImage,
          rollout: StringEnum(POOL_ROLLOUT, 'How machines will move to it.'),
        }),
        Type.Null(),
      ],
      { description: 'A pushed image being built (its task says how far), or null.' },
    ),
    scheduledPush: Type.Union(
      [
        Type.Object({
          goldenVmId: Type.String(),
          snapshotId: Type.String(),
          rollout: Type.String(),
          startAt: Type.String({ format: 'date-time' }),
        }),
        Type.Null(),
      ],
      { description: 'A push image waiting for its time, or null.' },
    ),
    previousImage: Type.Union([PoolImage, Type.Null()], {
      description: 'The image before the last push: what a rollback pushes again.',
    }),
    lifecycle: Type.String({ description: 'active, or deleting (its VMs are being removed).' }),
    machines: Type.Array(
      Type.Object({
        vmId: Uuid,
        name: Type.String(),
        status: Type.String({ description: 'provisioning, ready, refreshing or removing.' }),
        userId: Type.Union([Type.String(), Type.Null()], {
          description: 'Whose desktop it is; null for a spare.',
        }),
        imageTaskId: Type.String({ description: 'The image it was forked from (its build task).' }),
        parentVmId: Type.String({
          description: 'The parent it was forked from: its host and datastore (image.parents).',
        }),
        outdated: Type.Boolean({
          description: 'Forked from an earlier image: it is being replaced (push image).',
        }),
      }),
    ),
    counts: Type.Object({
      machines: Type.Integer(),
      assigned: Type.Integer(),
      spares: Type.Integer({ description: 'Running and nobody’s.' }),
      provisioning: Type.Integer(),
      outdated: Type.Integer({ description: 'Machines of an earlier image still to replace.' }),
    }),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    version: Type.Integer({ description: 'Stream version, for If-Match.' }),
  },
  { description: 'A desktop pool: its image chain and its machines.' },
);
export type PoolView = Static<typeof PoolView>;

export function poolView(row: PoolRow): PoolView {
  const pool = row.state;
  const machines = [...pool.machines].sort((a, b) => a.number - b.number);
  return {
    poolId: pool.poolId,
    settings: pool.settings,
    image: pool.image,
    imageStatus: pool.imageStatus,
    push: pool.push,
    scheduledPush: pool.scheduledPush
      ? (({ poolId: _poolId, ...schedule }) => schedule)(pool.scheduledPush)
      : null,
    previousImage: pool.previousImage,
    lifecycle: pool.lifecycle,
    machines: machines.map((machine) => {
      const { vmId, name, status, userId, imageTaskId, parentVmId } = machine;
      const outdated = isOutdated(pool, machine);
      return { vmId, name, status, userId, imageTaskId, parentVmId, outdated };
    }),
    counts: {
      machines: machines.length,
      assigned: machines.filter((m) => m.userId !== null).length,
      spares: machines.filter((m) => m.userId === null && m.status === 'ready').length,
      provisioning: machines.filter((m) => m.status === 'provisioning').length,
      outdated: machines.filter((m) => isOutdated(pool, m)).length,
    },
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    version: row.version,
  };
}
