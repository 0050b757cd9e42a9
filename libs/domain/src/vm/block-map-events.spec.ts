import {
  BLOCK_MAP_PART_BYTES,
  blockMapsMeasured,
  diskBlockMapOf,
  extentsOf,
  runsOf,
} from './block-map-events';
import type { DiskBlockMap } from './vm.events';

const KiB = 1024;
const GiB = 1024 ** 3;
const vmId = '0190f3a0-0000-7000-8000-0000000000a1';
const taskId = '0190f3a0-0000-7000-8000-0000000000b1';
const diskId = '0190f3a0-0000-7000-8000-0000000000c1';
const top = '0190f3a0-0000-7000-8000-0000000000d1';
const base = '0190f3a0-0000-7000-8000-0000000000d2';

/** A disk with an extent written at each offset chosen, each 64 KiB, held by the top layer. */
function written(offsets: number[], zeroAt: (i: number) => boolean = () => false): DiskBlockMap {
  const extents = offsets.map((offsetBytes, i) => ({
    offsetBytes,
    lengthBytes: 64 * KiB,
    layerId: top,
    zero: zeroAt(i),
    shared: false,
  }));
  return {
    diskId,
    topLayerId: top,
    capacityBytes: 2 * GiB,
    allocatedBytes: extents.length * 64 * KiB,
    extents,
    bytesPerLayer: [
      { layerId: top, mappedBytes: extents.length * 64 * KiB, shared: false },
      { layerId: base, mappedBytes: 0, shared: true },
    ],
  };
}

const everyOther = (capacity: number) =>
  Array.from({ length: capacity / (128 * KiB) }, (_, i) => i * 128 * KiB);
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

describe('block maps as events', () => {
  it('keeps a disk written every other 64 KiB as one run', () => {
    const map = written(everyOther(2 * GiB));
    expect(bytes(map)).toBeGreaterThan(1_000_000);
    const events = blockMapsMeasured(vmId, taskId, [map]);
    expect(events).toHaveLength(1);
    expect(events[0].data.disks[0].runs).toEqual([
      {
        offsetBytes: 0,
        lengthBytes: 64 * KiB,
        layer: 0,
        zero: false,
        count: 16384,
        strideBytes: 128 * KiB,
      },
    ]);
    expect(extentsOf(events[0].data.disks[0].runs, map.bytesPerLayer)).toEqual(map.extents);
  });

  it('splits a map that does not repeat into parts within the limit, which add up to it', () => {
    // Data and zero clusters alternate: no two neighbours make a run.
    const map = written(everyOther(2 * GiB), (i) => i % 2 === 1);
    const events = blockMapsMeasured(vmId, taskId, [map]);
    expect(events.length).toBeGreaterThan(1);
    for (const [i, event] of events.entries()) {
      expect(bytes(event.data)).toBeLessThanOrEqual(BLOCK_MAP_PART_BYTES);
      expect(event.data).toMatchObject({ part: i + 1, parts: events.length });
      expect(event.data.disks.map((d) => d.continued)).toEqual([i > 0]);
      expect(event.data.disks[0]).toMatchObject({ allocatedBytes: map.allocatedBytes });
    }
    const runs = events.flatMap((event) => event.data.disks[0].runs);
    expect(extentsOf(runs, map.bytesPerLayer)).toEqual(map.extents);
  });

  it('folds the parts of a measure back into the map measured, and a new measure replaces it', () => {
    const map = written(everyOther(2 * GiB), (i) => i % 2 === 1);
    const parts = blockMapsMeasured(vmId, taskId, [map]).map((event) => event.data.disks[0]);
    const folded = parts.reduce<DiskBlockMap | undefined>(
      (before, part) => diskBlockMapOf(part, before?.extents),
      undefined,
    );
    expect(folded).toEqual(map);
    const smaller = written([0, 128 * KiB]);
    const [fresh] = blockMapsMeasured(vmId, taskId, [smaller])[0].data.disks;
    expect(diskBlockMapOf(fresh, folded!.extents)).toEqual(smaller);
  });

  it('starts each disk of a measure fresh, even when it follows another in the same part', () => {
    const other = { ...written([0, 256 * KiB]), diskId: '0190f3a0-0000-7000-8000-0000000000c2' };
    const [event, ...rest] = blockMapsMeasured(vmId, taskId, [written([]), other]);
    expect(rest).toEqual([]);
    expect(event.data.disks.map((d) => [d.runs.length, d.continued])).toEqual([
      [0, false],
      [1, false],
    ]);
  });

  it('says which layer holds a run by its place in the chain, and keeps it shared or not', () => {
    const map = written([0]);
    map.extents.push({
      offsetBytes: 64 * KiB,
      lengthBytes: 64 * KiB,
      layerId: base,
      zero: false,
      shared: true,
    });
    expect(runsOf(map).map((run) => run.layer)).toEqual([0, 1]);
    expect(extentsOf(runsOf(map), map.bytesPerLayer)).toEqual(map.extents);
  });
});
