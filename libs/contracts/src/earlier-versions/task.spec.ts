import { numberedId as id } from '@dolly/testing/pure';
import { type PoolImageJobV1, poolImageJobFromV1 } from './task';

const v1: PoolImageJobV1 = {
  kind: 'pool-image',
  poolId: id(0xf1),
  goldenVmId: id(0x100),
  templateVmId: id(0x300),
  replicaVmId: id(0x400),
  parentVmId: id(0x500),
  sourceDatastoreId: id(0xd1),
  datastoreId: id(0xd2),
  disks: [
    {
      snapshotLayerId: 'golden-v1',
      templateDiskId: id(0x301),
      replicaDiskId: id(0x401),
      parentDiskId: id(0x501),
      capacityBytes: 1024,
    },
  ],
  parentMemory: { imageId: id(0x502), sizeBytes: 2048 },
};

describe('TaskQueued v1 jobs', () => {
  it('reads a v1 image job (one replica, one parent) in today’s terms', () => {
    expect(poolImageJobFromV1(v1)).toEqual({
      kind: 'pool-image',
      poolId: v1.poolId,
      goldenVmId: v1.goldenVmId,
      templateVmId: v1.templateVmId,
      sourceDatastoreId: v1.sourceDatastoreId,
      disks: [{ snapshotLayerId: 'golden-v1', templateDiskId: id(0x301), capacityBytes: 1024 }],
      replicas: [{ replicaVmId: id(0x400), datastoreId: id(0xd2), diskIds: [id(0x401)] }],
      parents: [
        {
          parentVmId: id(0x500),
          replicaVmId: id(0x400),
          datastoreId: id(0xd2),
          diskIds: [id(0x501)],
          memory: { imageId: id(0x502), sizeBytes: 2048 },
        },
      ],
    });
  });
});
