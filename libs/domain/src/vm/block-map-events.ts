/**
 * Block maps as events: compact (runs of extents instead of one entry per extent) and split in
 * parts no larger than a limit, so that a fragmented disk never makes an event the broker refuses.
 */
import type {
  BlockMapRun,
  DiskBlockMap,
  DiskBlockMapRuns,
  VmBlockMapsMeasured,
  VmEvent,
} from './vm.events';

/** How large one VmBlockMapsMeasured's data may grow before the map goes on in another part. */
export const BLOCK_MAP_PART_BYTES = 256 * 1024;

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** Whether an extent continues a run: same length, layer and zero flag, one stride further on. */
function extendsRun(run: BlockMapRun, extent: Omit<BlockMapRun, 'count' | 'strideBytes'>) {
  if (run.lengthBytes !== extent.lengthBytes || run.layer !== extent.layer) return false;
  if (run.zero !== extent.zero) return false;
  const lastStart = run.offsetBytes + (run.count - 1) * run.strideBytes;
  const stride = extent.offsetBytes - lastStart;
  return run.count === 1 ? stride > run.lengthBytes : stride === run.strideBytes;
}

/** A disk's extents (sorted, merged) as runs; layers are named by their index in bytesPerLayer. */
export function runsOf(map: Pick<DiskBlockMap, 'extents' | 'bytesPerLayer'>): BlockMapRun[] {
  const index = new Map(map.bytesPerLayer.map((layer, i) => [layer.layerId, i]));
  const runs: BlockMapRun[] = [];
  for (const extent of map.extents) {
    const layer = index.get(extent.layerId);
    if (layer === undefined)
      throw new Error(
        `extent at ${extent.offsetBytes} is held by ${extent.layerId}, not in the chain`,
      );
    const next = { offsetBytes: extent.offsetBytes, lengthBytes: extent.lengthBytes, layer };
    const candidate = { ...next, zero: extent.zero };
    const last = runs.at(-1);
    if (last && extendsRun(last, candidate)) {
      if (last.count === 1) last.strideBytes = extent.offsetBytes - last.offsetBytes;
      last.count += 1;
    } else {
      runs.push({ ...candidate, count: 1, strideBytes: 0 });
    }
  }
  return runs;
}

/** The extents runs stand for, in offset order (as the block map read model and API show them). */
export function extentsOf(
  runs: readonly BlockMapRun[],
  bytesPerLayer: DiskBlockMap['bytesPerLayer'],
): DiskBlockMap['extents'] {
  return runs.flatMap((run) => {
    const layer = bytesPerLayer[run.layer];
    return Array.from({ length: run.count }, (_, i) => ({
      offsetBytes: run.offsetBytes + i * run.strideBytes,
      lengthBytes: run.lengthBytes,
      layerId: layer.layerId,
      zero: run.zero,
      shared: layer.shared,
    }));
  });
}

/**
 * A disk's map from a measured part of it: the part's extents, after those the earlier parts of
 * the same measure gave when it continues them.
 */
export function diskBlockMapOf(
  disk: DiskBlockMapRuns,
  earlier: DiskBlockMap['extents'] | undefined,
): DiskBlockMap {
  const { runs, continued, ...map } = disk;
  const extents = extentsOf(runs, disk.bytesPerLayer);
  return { ...map, extents: continued && earlier ? [...earlier, ...extents] : extents };
}

/** After these a VM has no block maps: it is gone, or was never made. */
export const BLOCK_MAPS_END: ReadonlySet<VmEvent['type']> = new Set([
  'VmDeleted',
  'VmProvisioningFailed',
]);

/**
 * What a worker measured, as events: each disk's map as runs, in as many parts as it takes for
 * each event's data to stay within `partBytes` (a part holds at least one run, so it always ends).
 */
export function blockMapsMeasured(
  vmId: string,
  taskId: string,
  maps: readonly DiskBlockMap[],
  partBytes = BLOCK_MAP_PART_BYTES,
): VmBlockMapsMeasured[] {
  const parts: DiskBlockMapRuns[][] = [[]];
  // Part numbers are written last: count them at their largest.
  let size = jsonBytes({ vmId, taskId, part: partBytes, parts: partBytes, disks: [] });
  const emptySize = size;
  for (const { extents, ...map } of maps) {
    const header: DiskBlockMapRuns = { ...map, runs: [], continued: false };
    const headerSize = jsonBytes(header) + 1;
    let current: DiskBlockMapRuns | undefined;
    for (const run of runsOf({ extents, bytesPerLayer: map.bytesPerLayer })) {
      const runSize = jsonBytes(run) + 1;
      const needed = runSize + (current ? 0 : headerSize);
      if (size + needed > partBytes && size > emptySize) {
        parts.push([]);
        size = emptySize;
        current = undefined;
      }
      if (!current) {
        current = {
          ...header,
          runs: [],
          continued: parts.flat().some((d) => d.diskId === map.diskId),
        };
        parts.at(-1)!.push(current);
        size += headerSize;
      }
      current.runs.push(run);
      size += runSize;
    }
    if (!current) {
      // Nothing allocated: the map is still news (its layers, its capacity).
      if (size + headerSize > partBytes && size > emptySize) {
        parts.push([]);
        size = emptySize;
      }
      parts.at(-1)!.push(header);
      size += headerSize;
    }
  }
  return parts.map((disks, i) => ({
    type: 'VmBlockMapsMeasured',
    data: { vmId, taskId, part: i + 1, parts: parts.length, disks },
  }));
}
