import {
  type PoolEvent,
  type PoolImage,
  PoolCreatedData,
  PoolImagePushStartedData,
  PoolMachineRequestedData,
  Uuid,
} from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';
import type { EarlierVersion } from './earlier-version';

/** The chain a pool's machines came from, as PoolCreated v1 and PoolImagePushStarted v1 said it: one host, one datastore. */
export const PoolImageV1 = Type.Object(
  {
    goldenVmId: Uuid('The golden image (master VM).'),
    snapshotId: Uuid('Its snapshot published as the image.'),
    templateVmId: Uuid('The internal template: a linked clone of the snapshot.'),
    replicaVmId: Uuid('The replica: a thin full clone of the internal template, read-only.'),
    parentVmId: Uuid('The running parent the machines are forked from.'),
    hostId: Uuid('The host the parent (and its machines) run on.'),
    datastoreId: Uuid('The datastore of the replica, the parent and the machines.'),
    taskId: Uuid('The task doing the work.'),
  },
  { additionalProperties: false },
);
export type PoolImageV1 = Static<typeof PoolImageV1>;

/** A one-host, one-datastore image as v1 events said it, in today's terms. */
export function poolImageFromV1(image: PoolImageV1): PoolImage {
  const { goldenVmId, snapshotId, templateVmId, replicaVmId, parentVmId, hostId, datastoreId } =
    image;
  return {
    goldenVmId,
    snapshotId,
    templateVmId,
    replicas: [{ datastoreId, replicaVmId }],
    parents: [{ hostId, datastoreId, parentVmId }],
    taskId: image.taskId,
  };
}

const { poolId, settings } = PoolCreatedData.properties;
export const PoolCreatedDataV1 = Type.Object(
  { poolId, settings, image: PoolImageV1 },
  {
    additionalProperties: false,
    description:
      'A pool was created; its image (internal template, replica, parent) is being built.',
  },
);

export const PoolImagePushStartedDataV1 = Type.Object(
  { poolId, image: PoolImageV1, rollout: PoolImagePushStartedData.properties.rollout },
  {
    additionalProperties: false,
    description:
      'Push image: a new internal template, replica and parent are being built from a golden snapshot; the pool keeps forking from its current image meanwhile.',
  },
);

/** v2 added the parent a machine is forked from, last. */
const { parentVmId: _parentVmId, ...machineRequestedV1 } = PoolMachineRequestedData.properties;
export const PoolMachineRequestedDataV1 = Type.Object(machineRequestedV1, {
  additionalProperties: false,
  description: 'The pool forks a new machine.',
});

/** An event whose image v1 said as one host and one datastore, with its image in today's terms. */
const withImageFromV1 = (data: unknown) => {
  const v1 = data as { image: PoolImageV1 };
  return { ...v1, image: poolImageFromV1(v1.image) };
};

/**
 * Earlier schema versions of pool events still in the store, each with the step that reads it as
 * the next version. v1 images had one host and one datastore; v2 has sites.
 */
export const POOL_EVENT_EARLIER_VERSIONS: Partial<
  Record<PoolEvent['type'], readonly EarlierVersion[]>
> = {
  PoolCreated: [{ schema: PoolCreatedDataV1, upcastToNext: withImageFromV1 }],
  PoolImagePushStarted: [{ schema: PoolImagePushStartedDataV1, upcastToNext: withImageFromV1 }],
  PoolMachineRequested: [
    {
      schema: PoolMachineRequestedDataV1,
      // v1 pools had one parent: no machine named it.
      upcastToNext: (data) => ({ ...(data as object), parentVmId: null }),
    },
  ],
};
