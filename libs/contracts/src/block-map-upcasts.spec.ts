import { currentSchemaVersion, upcastToCurrent } from './event-catalog';

const top = '0190f3a0-0000-7000-8000-0000000000d1';
const v1 = {
  vmId: '0190f3a0-0000-7000-8000-0000000000a1',
  taskId: '0190f3a0-0000-7000-8000-0000000000b1',
  disks: [
    {
      diskId: '0190f3a0-0000-7000-8000-0000000000c1',
      topLayerId: top,
      capacityBytes: 1048576,
      allocatedBytes: 196608,
      extents: [0, 131072, 262144].map((offsetBytes) => ({
        offsetBytes,
        lengthBytes: 65536,
        layerId: top,
        zero: false,
        shared: false,
      })),
      bytesPerLayer: [{ layerId: top, mappedBytes: 196608, shared: false }],
    },
  ],
};

describe('VmBlockMapsMeasured v1 read as v2', () => {
  it('becomes one part whose extents are runs', () => {
    expect(currentSchemaVersion('VmBlockMapsMeasured')).toBe(2);
    const { extents: _extents, ...disk } = v1.disks[0];
    expect(upcastToCurrent('VmBlockMapsMeasured', 1, v1)).toEqual({
      vmId: v1.vmId,
      taskId: v1.taskId,
      part: 1,
      parts: 1,
      disks: [
        {
          ...disk,
          runs: [
            {
              offsetBytes: 0,
              lengthBytes: 65536,
              layer: 0,
              zero: false,
              count: 3,
              strideBytes: 131072,
            },
          ],
          continued: false,
        },
      ],
    });
  });
});
