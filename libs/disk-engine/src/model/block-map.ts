/**
 * Block maps: which extents of a disk are allocated, and which layer of its chain holds each,
 * like `qemu-img map` and `rbd du`. QEMU reports the raw extents (from `qemu-img map
 * --output=json` offline, or NBD block status with `qemu:allocation-depth` live); this module
 * turns them into the compact form the worker reports: adjacent extents held by the same layer
 * merged, unallocated ranges left out (they read as zeros, or through to nothing).
 */

/** One extent as QEMU reports it, normalised. `depth` counts from the top: 0 is the top layer. */
export interface RawExtent {
  startBytes: number;
  lengthBytes: number;
  /** Null: no layer of the chain holds it. */
  depth: number | null;
  /** Reads as zeros (a zero cluster, or preallocated but never written). */
  zero: boolean;
}

export interface BlockMapExtent {
  offsetBytes: number;
  lengthBytes: number;
  layerId: string;
  /** Reads as zeros although a layer holds the range (qcow2 zero clusters, preallocation). */
  zero: boolean;
  /** The holding layer is read by two or more disks. */
  shared: boolean;
}

export interface LayerBytes {
  layerId: string;
  /** Virtual bytes of this disk that this layer answers for. */
  mappedBytes: number;
  shared: boolean;
}

export interface BlockMap {
  topLayerId: string;
  capacityBytes: number;
  /** Sorted by offset, merged, only allocated ranges. */
  extents: BlockMapExtent[];
  /** Every layer of the chain, top first, with the bytes it answers for (zero included). */
  bytesPerLayer: LayerBytes[];
  allocatedBytes: number;
}

/**
 * @param chainLayerIds the chain, top first, as `depth` indexes it
 * @param isShared whether a layer is read by more than one disk
 * @param window the range to map (default: the whole disk)
 */
export function compactBlockMap(
  raw: readonly RawExtent[],
  chainLayerIds: readonly string[],
  capacityBytes: number,
  isShared: (layerId: string) => boolean,
  window: { offsetBytes: number; lengthBytes: number } = {
    offsetBytes: 0,
    lengthBytes: capacityBytes,
  },
): BlockMap {
  const extents: BlockMapExtent[] = [];
  const mapped = new Map<string, number>(chainLayerIds.map((id) => [id, 0]));
  const sorted = clip(raw, window).sort((a, b) => a.startBytes - b.startBytes);
  for (const extent of sorted) {
    if (extent.depth === null || extent.lengthBytes <= 0) continue;
    const layerId = chainLayerIds[extent.depth];
    if (layerId === undefined) {
      throw new Error(`extent at ${extent.startBytes} has depth ${extent.depth} past the chain`);
    }
    mapped.set(layerId, (mapped.get(layerId) ?? 0) + extent.lengthBytes);
    const last = extents.at(-1);
    const adjacent = last && last.offsetBytes + last.lengthBytes === extent.startBytes;
    if (adjacent && last.layerId === layerId && last.zero === extent.zero) {
      last.lengthBytes += extent.lengthBytes;
    } else {
      extents.push({
        offsetBytes: extent.startBytes,
        lengthBytes: extent.lengthBytes,
        layerId,
        zero: extent.zero,
        shared: isShared(layerId),
      });
    }
  }
  return {
    topLayerId: chainLayerIds[0],
    capacityBytes,
    extents,
    bytesPerLayer: chainLayerIds.map((layerId) => ({
      layerId,
      mappedBytes: mapped.get(layerId) ?? 0,
      shared: isShared(layerId),
    })),
    allocatedBytes: extents.reduce((total, e) => total + e.lengthBytes, 0),
  };
}

/** The parts of the extents inside the window. */
function clip(
  raw: readonly RawExtent[],
  window: { offsetBytes: number; lengthBytes: number },
): RawExtent[] {
  const end = window.offsetBytes + window.lengthBytes;
  return raw
    .filter((e) => e.startBytes < end && e.startBytes + e.lengthBytes > window.offsetBytes)
    .map((e) => {
      const startBytes = Math.max(e.startBytes, window.offsetBytes);
      return {
        ...e,
        startBytes,
        lengthBytes: Math.min(e.startBytes + e.lengthBytes, end) - startBytes,
      };
    });
}

/** NBD block status flags of the `base:allocation` context (NBD protocol, "Metadata querying"). */
const NBD_STATE_ZERO = 2;

export interface NbdMapEntry {
  offset: number;
  length: number;
  type: number;
}

/**
 * Joins the two NBD contexts a live export offers: `base:allocation` (zero flag) and
 * `qemu:allocation-depth` (type = 1-based depth, 0 = unallocated) into raw extents.
 */
export function extentsFromNbd(
  allocation: readonly NbdMapEntry[],
  depth: readonly NbdMapEntry[],
): RawExtent[] {
  // Both lists cover the export in order, so one walk over their boundaries joins them.
  const extents: RawExtent[] = [];
  let i = 0;
  let j = 0;
  let offset = Math.max(allocation[0]?.offset ?? 0, depth[0]?.offset ?? 0);
  while (i < allocation.length && j < depth.length) {
    const a = allocation[i];
    const d = depth[j];
    const end = Math.min(a.offset + a.length, d.offset + d.length);
    if (end > offset) {
      extents.push({
        startBytes: offset,
        lengthBytes: end - offset,
        depth: d.type === 0 ? null : d.type - 1,
        zero: (a.type & NBD_STATE_ZERO) !== 0,
      });
      offset = end;
    }
    if (a.offset + a.length === end) i++;
    if (d.offset + d.length === end) j++;
  }
  return extents;
}
