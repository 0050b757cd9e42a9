import { constants, inflateSync } from 'node:zlib';
import { type ContentReader, isAllZero } from './content-reader';
import { transientBytesPassed } from '../young-garbage';
import { DiskReasonCode, type DiskRefusals } from './disk-reasons';
import {
  GD_AT_END,
  SECTOR_BYTES,
  type SparseHeader,
  checkEmbeddedDescriptor,
  checkSparseHeader,
  metadataSectors,
  readSparseHeader,
} from './vmdk-sparse-header';

/** Metadata marker types (VMDK 1.1, "Stream-Optimized Compressed Sparse Extents"). */
const MarkerType = { END_OF_STREAM: 0, GRAIN_TABLE: 1, GRAIN_DIRECTORY: 2, FOOTER: 3 } as const;
/** lba (uint64) and size (uint32): what a grain marker holds before its compressed data. */
const GRAIN_MARKER_BYTES = 12;

/** Where a decoder's guest writes go: one buffer each (PipelinedWrites joins them). */
export interface GuestWriteSink {
  write(offsetBytes: number, data: Buffer): Promise<void>;
}

export interface GuestWrites {
  sink: GuestWriteSink;
  onGuestBytes?(n: number): void;
  guestBytesWritten: number;
}

/**
 * Decodes a streamOptimized VMDK as it arrives and writes each grain's guest data. Two layouts
 * are streams: VMware's (grain directory at the end: grain table markers after their grains, a
 * grain directory marker, the footer, the end-of-stream marker) and qemu-img's (tables and
 * directory in the overhead before the grains, which are read past; qemu ends with zero padding
 * read as end of stream, or with the last grain). The grains alone carry the data, so the
 * tables are checked for their framing, not read.
 */
export async function decodeStreamOptimizedVmdk(
  reader: ContentReader,
  capacityBytes: number,
  writes: GuestWrites,
  refusals: DiskRefusals,
): Promise<void> {
  const headerSector = await reader.read(SECTOR_BYTES);
  if (headerSector === null)
    return refusals.fatal(
      DiskReasonCode.TRUNCATED,
      'the VMDK ends inside its header',
      reader.positionBytes,
    );
  const header = readSparseHeader(headerSector);
  if (header === null)
    return refusals.fatal(DiskReasonCode.BAD_VMDK, 'no VMDK sparse extent magic (KDMV)', 0);
  if (!checkSparseHeader(header, headerSector, 'streamOptimized', capacityBytes, refusals))
    refusals.throwIfAny();

  await skipTo(
    reader,
    header.descriptorOffsetSectors * SECTOR_BYTES,
    'its embedded descriptor',
    refusals,
  );
  const descriptorAt = reader.positionBytes;
  const descriptor = await reader.read(header.descriptorSectors * SECTOR_BYTES);
  if (descriptor === null)
    return refusals.fatal(
      DiskReasonCode.TRUNCATED,
      'the VMDK ends inside its embedded descriptor',
      reader.positionBytes,
    );
  checkEmbeddedDescriptor(descriptor, header, 'streamOptimized', descriptorAt, refusals);
  await skipTo(reader, header.overheadSectors * SECTOR_BYTES, 'its first grain', refusals);

  await readMarkers(reader, header, writes, refusals);
  refusals.throwIfAny();
}

async function readMarkers(
  reader: ContentReader,
  header: SparseHeader,
  writes: GuestWrites,
  refusals: DiskRefusals,
): Promise<void> {
  // The header frames the grains; a capacity differing from the descriptor's is already a reason.
  const capacityBytes = header.capacitySectors * SECTOR_BYTES;
  const grainBytes = header.grainSectors * SECTOR_BYTES;
  const isVmwareLayout = header.directoryOffsetSectors === GD_AT_END;
  const expectedSectors = metadataSectors(header);
  let previousLba = -1;
  let sawDirectory = false;
  let sawFooter = false;

  for (;;) {
    if (refusals.full) return;
    const markerAt = reader.positionBytes;
    const marker = await reader.read(GRAIN_MARKER_BYTES);
    if (marker === null) {
      // qemu-img ends a stream with its last grain (no end-of-stream marker); a VMware stream never does.
      if (reader.positionBytes === markerAt && !isVmwareLayout) return;
      return refusals.fatal(
        DiskReasonCode.TRUNCATED,
        isVmwareLayout
          ? 'the VMDK stream ends before its end-of-stream marker'
          : 'the VMDK stream ends inside a marker',
        reader.positionBytes,
      );
    }
    const value = marker.readBigUInt64LE(0);
    const size = marker.readUInt32LE(8);

    if (size > 0) {
      if (sawFooter)
        return refusals.fatal(DiskReasonCode.BAD_VMDK, 'a grain after the VMDK footer', markerAt);
      const lba = Number(value);
      const grainOk = checkGrainPlace(value, previousLba, header, markerAt, refusals);
      if (grainOk) previousLba = lba;
      const compressedLimit = deflateBound(grainBytes);
      if (size > compressedLimit) {
        refusals.add(
          DiskReasonCode.GRAIN_TOO_LARGE,
          `a grain of ${size} compressed bytes; a ${grainBytes}-byte grain never needs more than ${compressedLimit}`,
          markerAt,
        );
        await skipExactly(
          reader,
          padded(GRAIN_MARKER_BYTES + size) - GRAIN_MARKER_BYTES,
          'a grain',
          refusals,
        );
        continue;
      }
      const compressed = await reader.readTransient(size);
      if (compressed === null)
        return refusals.fatal(
          DiskReasonCode.TRUNCATED,
          'the VMDK stream ends inside a grain',
          reader.positionBytes,
        );
      await skipExactly(
        reader,
        padded(GRAIN_MARKER_BYTES + size) - GRAIN_MARKER_BYTES - size,
        'a grain',
        refusals,
      );
      if (!grainOk) continue;
      const offsetBytes = lba * SECTOR_BYTES;
      const expectedBytes = Math.min(grainBytes, capacityBytes - offsetBytes);
      const data = inflateGrain(compressed, expectedBytes, markerAt, refusals);
      transientBytesPassed(expectedBytes);
      if (data === null || refusals.any || isAllZero(data)) continue;
      await writes.sink.write(offsetBytes, data);
      writes.guestBytesWritten += data.length;
      writes.onGuestBytes?.(data.length);
      continue;
    }

    const rest = await reader.read(SECTOR_BYTES - GRAIN_MARKER_BYTES);
    if (rest === null)
      return refusals.fatal(
        DiskReasonCode.TRUNCATED,
        'the VMDK stream ends inside a marker',
        reader.positionBytes,
      );
    const type = rest.readUInt32LE(0);
    const sectors = value;
    switch (type) {
      case MarkerType.END_OF_STREAM: {
        if (sectors !== 0n)
          refusals.add(
            DiskReasonCode.BAD_VMDK,
            `an end-of-stream marker with ${sectors} sectors of metadata`,
            markerAt,
          );
        if (isVmwareLayout && !(sawDirectory && sawFooter))
          refusals.add(
            DiskReasonCode.BAD_VMDK,
            'the VMDK stream ends without its grain directory and footer (its header defers them to the end)',
            markerAt,
          );
        const trailing = await reader.drain();
        if (trailing.nonZeroAtBytes !== null)
          refusals.add(
            DiskReasonCode.TRAILING_DATA,
            `${trailing.bytes} bytes follow the end-of-stream marker and not all are zero padding`,
            trailing.nonZeroAtBytes,
          );
        return;
      }
      case MarkerType.GRAIN_TABLE:
        await skipMetadata(
          reader,
          sectors,
          expectedSectors.grainTable,
          'grain table',
          markerAt,
          refusals,
        );
        break;
      case MarkerType.GRAIN_DIRECTORY:
        await skipMetadata(
          reader,
          sectors,
          expectedSectors.grainDirectory,
          'grain directory',
          markerAt,
          refusals,
        );
        sawDirectory = true;
        break;
      case MarkerType.FOOTER: {
        if (sectors !== 1n)
          return refusals.fatal(
            DiskReasonCode.BAD_VMDK,
            `a footer marker of ${sectors} sectors (a footer is one)`,
            markerAt,
          );
        const footer = await reader.read(SECTOR_BYTES);
        if (footer === null)
          return refusals.fatal(
            DiskReasonCode.TRUNCATED,
            'the VMDK stream ends inside its footer',
            reader.positionBytes,
          );
        checkFooter(footer, header, markerAt + SECTOR_BYTES, refusals);
        sawFooter = true;
        break;
      }
      default:
        return refusals.fatal(
          DiskReasonCode.BAD_VMDK,
          `a VMDK marker of unknown type ${type}`,
          markerAt,
        );
    }
  }
}

/** Records why a grain cannot be placed; true when it can be. */
function checkGrainPlace(
  lba: bigint,
  previousLba: number,
  header: SparseHeader,
  markerAt: number,
  refusals: DiskRefusals,
): boolean {
  if (lba >= BigInt(header.capacitySectors)) {
    refusals.add(
      DiskReasonCode.GRAIN_OUT_OF_RANGE,
      `a grain at sector ${lba}, beyond the disk's ${header.capacitySectors} sectors`,
      markerAt,
    );
    return false;
  }
  if (lba % BigInt(header.grainSectors) !== 0n) {
    refusals.add(
      DiskReasonCode.GRAIN_OUT_OF_RANGE,
      `a grain at sector ${lba}, not on a ${header.grainSectors}-sector grain boundary`,
      markerAt,
    );
    return false;
  }
  // Writers emit grains in increasing order; a repeated or earlier grain would overwrite data already placed.
  if (Number(lba) <= previousLba) {
    refusals.add(
      DiskReasonCode.GRAIN_OUT_OF_RANGE,
      `a grain at sector ${lba} after one at sector ${previousLba}: grains come in increasing order, once each`,
      markerAt,
    );
    return false;
  }
  return true;
}

/** Inflates at most `expectedBytes`: a grain that would inflate further stops there (no zip bomb). */
function inflateGrain(
  compressed: Buffer,
  expectedBytes: number,
  markerAt: number,
  refusals: DiskRefusals,
): Buffer | null {
  let data: Buffer;
  try {
    // One output buffer the grain fits in with room to spare: zlib's default 16 KiB chunks would
    // make five allocations and a copy per grain, and a buffer filled exactly one more.
    data = inflateSync(compressed, {
      maxOutputLength: expectedBytes,
      chunkSize: expectedBytes + constants.Z_MIN_CHUNK,
    });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      refusals.add(
        DiskReasonCode.GRAIN_TOO_LARGE,
        `a grain inflates past its ${expectedBytes} bytes`,
        markerAt,
      );
    else
      refusals.add(
        DiskReasonCode.GRAIN_CORRUPT,
        `a grain's compressed data does not inflate (${(error as Error).message})`,
        markerAt,
      );
    return null;
  }
  if (data.length !== expectedBytes) {
    refusals.add(
      DiskReasonCode.GRAIN_CORRUPT,
      `a grain inflates to ${data.length} bytes, a grain there holds ${expectedBytes}`,
      markerAt,
    );
    return null;
  }
  return data;
}

/** The footer repeats the header (VMDK 1.1), with the grain directory's real place. */
function checkFooter(
  footer: Buffer,
  header: SparseHeader,
  offsetBytes: number,
  refusals: DiskRefusals,
): void {
  const parsed = readSparseHeader(footer);
  if (parsed === null) {
    refusals.add(DiskReasonCode.BAD_VMDK, 'the VMDK footer has no KDMV magic', offsetBytes);
    return;
  }
  if (!parsed.invariantBytes.equals(header.invariantBytes))
    refusals.add(
      DiskReasonCode.BAD_VMDK,
      'the VMDK footer does not repeat its header',
      offsetBytes,
    );
  if (parsed.directoryOffsetSectors === GD_AT_END)
    refusals.add(
      DiskReasonCode.BAD_VMDK,
      'the VMDK footer does not say where the grain directory is',
      offsetBytes,
    );
}

async function skipMetadata(
  reader: ContentReader,
  sectors: bigint,
  expected: number,
  what: string,
  markerAt: number,
  refusals: DiskRefusals,
): Promise<void> {
  if (sectors !== BigInt(expected))
    return refusals.fatal(
      DiskReasonCode.BAD_VMDK,
      `a ${what} marker of ${sectors} sectors; this disk's ${what} has ${expected}`,
      markerAt,
    );
  await skipExactly(reader, expected * SECTOR_BYTES, `a ${what}`, refusals);
}

/** zlib's compressBound: the most a deflate stream of `bytes` bytes can take. */
function deflateBound(bytes: number): number {
  return bytes + (bytes >>> 12) + (bytes >>> 14) + (bytes >>> 25) + 13;
}

function padded(bytes: number): number {
  return Math.ceil(bytes / SECTOR_BYTES) * SECTOR_BYTES;
}

async function skipExactly(
  reader: ContentReader,
  bytes: number,
  what: string,
  refusals: DiskRefusals,
): Promise<void> {
  if ((await reader.skip(bytes)) < bytes)
    refusals.fatal(
      DiskReasonCode.TRUNCATED,
      `the VMDK stream ends inside ${what}`,
      reader.positionBytes,
    );
}

async function skipTo(
  reader: ContentReader,
  offsetBytes: number,
  what: string,
  refusals: DiskRefusals,
): Promise<void> {
  await skipExactly(reader, offsetBytes - reader.positionBytes, `before ${what}`, refusals);
}
