import { numberedId as id } from '@dolly/testing/pure';
import { Value } from '@sinclair/typebox/value';
import { type Job, LayerId, isVmJob, jobDisks } from './jobs';

/** An image of one replica and one parent. */
const image: Job = {
  kind: 'pool-image',
  poolId: id(0xf1),
  goldenVmId: id(0x100),
  templateVmId: id(0x300),
  sourceDatastoreId: id(0xd1),
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
};

// The v1 image job read in today's terms is specified beside its upcaster.
describe('jobs', () => {
  it('names the VM a job makes or changes, its datastore, and the disks it touches', () => {
    const clone: Job = {
      kind: 'clone',
      sourceVmId: id(1),
      targetVmId: id(2),
      sourceDatastoreId: id(0xd1),
      targetDatastoreId: id(0xd2),
      linked: false,
      snapshotId: null,
      format: 'thin',
      live: false,
      powerOnAfter: false,
      disks: [
        {
          sourceDiskId: id(0x11),
          sourceLayerId: null,
          diskId: id(0x21),
          capacityBytes: 1024,
          format: 'thin',
        },
      ],
    };
    expect(jobDisks(clone)).toEqual({ vmId: id(2), datastoreId: id(0xd2), diskIds: [id(0x21)] });
    // An image's first parent stands for its block maps.
    expect(jobDisks(image)).toEqual({
      vmId: id(0x500),
      datastoreId: id(0xd2),
      diskIds: [id(0x501)],
    });
    const power: Job = {
      kind: 'power',
      vmId: id(3),
      datastoreId: id(0xd1),
      to: 'poweredOn',
      from: 'poweredOff',
      diskIds: [id(0x31)],
      memoryImage: { imageId: id(0x32), sizeBytes: 1 },
    };
    expect(jobDisks(power)).toEqual({ vmId: id(3), datastoreId: id(0xd1), diskIds: [id(0x31)] });
  });

  it('a datastore’s own job is on no VM', () => {
    const restore: Job = {
      kind: 'restore-quarantined',
      datastoreId: id(0xd1),
      layerId: 'layer-a',
    };
    expect(isVmJob(restore)).toBe(false);
    expect(isVmJob(image)).toBe(true);
  });

  it('a layer id never names a path', () => {
    const layerId = LayerId('a layer');
    for (const good of ['layer-a', 'golden-v1.2', 'A_1'])
      expect(Value.Check(layerId, good)).toBe(true);
    for (const bad of ['../etc', '.hidden', 'a/b', 'a..b', '', 'x'.repeat(129)])
      expect(Value.Check(layerId, bad)).toBe(false);
  });
});
