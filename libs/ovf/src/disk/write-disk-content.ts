import { type DiskImageFormat, type DiskSink } from '../model';
import { ContentReader, isAllZero } from './content-reader';
import { DiskReasonCode, DiskRefusals } from './disk-reasons';
import { SNIFF_BYTES, checkDeclaredFormat, checkQcow2Header } from './disk-format';
import {
  type GuestWriteSink,
  type GuestWrites,
  decodeStreamOptimizedVmdk,
} from './stream-optimized-vmdk';
import {
  MAX_DESCRIPTOR_SECTORS,
  SECTOR_BYTES,
  checkEmbeddedDescriptor,
  checkSparseHeader,
  readSparseHeader,
} from './vmdk-sparse-header';

export interface WriteDiskContentOptions {
  signal?: AbortSignal;
  /** Called after each write to the sink with the guest bytes it carried. */
  onGuestBytes?(n: number): void;
  /** The disk file's name in the package, for the reasons' `at`. */
  fileName?: string;
}

/**
 * Puts one disk file's content (already decompressed and joined from its chunks) into the sink
 * as it arrives, in memory bounded by a grain or a block: streamOptimized VMDK decoded grain by
 * grain, raw and a monolithicFlat extent block by block, both as guest writes that skip zeros;
 * monolithicSparse VMDK and qcow2, which need random access, spooled once their header passed.
 *
 * Throws PackageRefused with every reason found (codes in DiskReasonCode); anything the sink
 * throws, or the signal's reason, passes through. On a refusal the content may be left unread.
 * guestBytesWritten counts what went to sink.write (0 for a spooled format).
 */
export async function writeDiskContent(
  content: AsyncIterable<Buffer>,
  declared: DiskImageFormat,
  capacityBytes: number,
  sink: DiskSink,
  options: WriteDiskContentOptions = {},
): Promise<{ guestBytesWritten: number }> {
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0)
    throw new RangeError(`capacityBytes ${capacityBytes} is not a byte count`);
  const reader = new ContentReader(content, options.signal);
  const refusals = new DiskRefusals(options.fileName);
  const pipelined = new PipelinedWrites(sink);
  const writes: GuestWrites = {
    sink: pipelined,
    onGuestBytes: options.onGuestBytes,
    guestBytesWritten: 0,
  };

  // The head decides the format before anything reaches the sink.
  await reader.fillHead(SNIFF_BYTES);
  const head = reader.peek(SNIFF_BYTES);
  if (!checkDeclaredFormat(head, declared, refusals)) refusals.throwIfAny();

  switch (declared) {
    case 'vmdk-streamOptimized':
      await decodeStreamOptimizedVmdk(reader, capacityBytes, writes, refusals);
      break;
    case 'raw':
    case 'vmdk-monolithicFlat':
      await writeRawContent(reader, capacityBytes, writes, refusals);
      break;
    case 'vmdk-monolithicSparse':
      await checkMonolithicSparseHead(reader, capacityBytes, refusals);
      await sink.spool(reader.remaining(), 'vmdk');
      break;
    case 'qcow2':
      checkQcow2Header(head, capacityBytes, refusals);
      refusals.throwIfAny();
      await sink.spool(reader.remaining(), 'qcow2');
      break;
  }
  await pipelined.settle();
  return { guestBytesWritten: writes.guestBytesWritten };
}

/**
 * Contiguous guest writes are joined up to this size (a streamOptimized grain is 64 KiB): each
 * write is a request the sink's server (qemu-nbd) handles on its own, at a cost per request.
 */
const JOINED_BYTES = 1 << 20;

/**
 * Writes kept in flight together, up to this many bytes: a sink that makes a round trip per
 * write (the disk engine's NBD client) writes while the next grains are decoded, rather than the
 * decoder waiting on each answer.
 */
const IN_FLIGHT_BYTES = 4 << 20;

/**
 * A sink's writes, contiguous ones joined (bounded; passed on as parts, not copied) and several
 * sent at once (bounded by bytes): the next waits only when the window is full. What reaches the
 * sink is the same bytes. `settle` sends what is held, waits for every write, and throws the
 * first failure.
 */
class PipelinedWrites implements GuestWriteSink {
  private joined: Buffer[] = [];
  private joinedStartBytes = 0;
  private joinedBytes = 0;
  private readonly inFlight: { written: Promise<void>; bytes: number }[] = [];
  private inFlightBytes = 0;

  constructor(private readonly sink: DiskSink) {}

  async write(offsetBytes: number, data: Buffer): Promise<void> {
    const contiguous = offsetBytes === this.joinedStartBytes + this.joinedBytes;
    if (this.joinedBytes > 0 && (!contiguous || this.joinedBytes + data.length > JOINED_BYTES))
      await this.sendJoined();
    if (this.joinedBytes === 0) this.joinedStartBytes = offsetBytes;
    this.joined.push(data);
    this.joinedBytes += data.length;
  }

  async settle(): Promise<void> {
    await this.sendJoined();
    while (this.inFlight.length > 0) await this.settleOldest();
  }

  private async sendJoined(): Promise<void> {
    if (this.joinedBytes === 0) return;
    const parts = this.joined;
    const bytes = this.joinedBytes;
    const offsetBytes = this.joinedStartBytes;
    this.joined = [];
    this.joinedBytes = 0;
    while (this.inFlight.length > 0 && this.inFlightBytes + bytes > IN_FLIGHT_BYTES)
      await this.settleOldest();
    const written = this.sink.write(offsetBytes, parts.length === 1 ? parts[0] : parts);
    // Awaited in turn (settleOldest); until then a failure must not count as unhandled.
    written.catch(() => undefined);
    this.inFlight.push({ written, bytes });
    this.inFlightBytes += bytes;
  }

  private async settleOldest(): Promise<void> {
    const oldest = this.inFlight.shift()!;
    this.inFlightBytes -= oldest.bytes;
    await oldest.written;
  }
}

/** Raw blocks are gathered to this size before they go to the sink (one write per MiB, not per chunk). */
const RAW_BLOCK_BYTES = 1 << 20;
/** Zero runs this long inside a block are left out, so the disk stays as sparse as the source. */
const RAW_ZERO_RUN_BYTES = 64 << 10;

async function writeRawContent(
  reader: ContentReader,
  capacityBytes: number,
  writes: GuestWrites,
  refusals: DiskRefusals,
): Promise<void> {
  let offsetBytes = 0;
  while (offsetBytes < capacityBytes) {
    const blockBytes = Math.min(RAW_BLOCK_BYTES, capacityBytes - offsetBytes);
    const block = await reader.read(blockBytes);
    if (block === null) {
      const totalBytes = reader.positionBytes;
      refusals.fatal(
        DiskReasonCode.CAPACITY_MISMATCH,
        `the raw content is ${totalBytes} bytes, the descriptor declares a capacity of ${capacityBytes}`,
        totalBytes,
      );
    }
    await writeNonZeroRuns(offsetBytes, block, writes);
    offsetBytes += blockBytes;
  }
  const beyond = await reader.drain();
  if (beyond.bytes > 0)
    refusals.fatal(
      DiskReasonCode.CAPACITY_MISMATCH,
      `the raw content is ${capacityBytes + beyond.bytes} bytes, the descriptor declares a capacity of ${capacityBytes}`,
      capacityBytes,
    );
}

async function writeNonZeroRuns(
  blockOffsetBytes: number,
  block: Buffer,
  writes: GuestWrites,
): Promise<void> {
  let runStart = -1;
  for (let start = 0; start <= block.length; start += RAW_ZERO_RUN_BYTES) {
    const piece = block.subarray(start, start + RAW_ZERO_RUN_BYTES);
    const isData = piece.length > 0 && !isAllZero(piece);
    if (isData && runStart < 0) runStart = start;
    if (!isData && runStart >= 0) {
      await writeGuest(blockOffsetBytes + runStart, block.subarray(runStart, start), writes);
      runStart = -1;
    }
    if (piece.length === 0) break;
  }
  if (runStart >= 0)
    await writeGuest(blockOffsetBytes + runStart, block.subarray(runStart), writes);
}

async function writeGuest(offsetBytes: number, data: Buffer, writes: GuestWrites): Promise<void> {
  await writes.sink.write(offsetBytes, data);
  writes.guestBytesWritten += data.length;
  writes.onGuestBytes?.(data.length);
}

/**
 * A monolithicSparse VMDK goes to qemu-img whole; before that its header and embedded descriptor
 * are read from the head (held: at most 1 MiB) and checked, parent first.
 */
async function checkMonolithicSparseHead(
  reader: ContentReader,
  capacityBytes: number,
  refusals: DiskRefusals,
): Promise<void> {
  await reader.fillHead(SECTOR_BYTES);
  const sector = reader.peek(SECTOR_BYTES);
  const header = readSparseHeader(sector);
  if (header === null)
    return refusals.fatal(
      DiskReasonCode.TRUNCATED,
      'the VMDK ends inside its header',
      sector.length,
    );
  checkSparseHeader(header, sector, 'monolithicSparse', capacityBytes, refusals);
  const descriptorEnd = header.descriptorOffsetSectors + header.descriptorSectors;
  if (refusals.any || !(descriptorEnd <= MAX_DESCRIPTOR_SECTORS + 1)) {
    if (!refusals.any)
      refusals.add(
        DiskReasonCode.BAD_VMDK,
        `the VMDK embedded descriptor ends at sector ${descriptorEnd}, too far to read`,
        28,
      );
    refusals.throwIfAny();
  }
  const descriptorEndBytes = descriptorEnd * SECTOR_BYTES;
  await reader.fillHead(descriptorEndBytes);
  if (reader.buffered < descriptorEndBytes)
    refusals.fatal(
      DiskReasonCode.TRUNCATED,
      'the VMDK ends inside its embedded descriptor',
      reader.buffered,
    );
  const descriptorAt = header.descriptorOffsetSectors * SECTOR_BYTES;
  checkEmbeddedDescriptor(
    reader.peek(descriptorEndBytes).subarray(descriptorAt),
    header,
    'monolithicSparse',
    descriptorAt,
    refusals,
  );
  refusals.throwIfAny();
}
