import { type DiskImageFormat } from '../model';
import { DiskReasonCode, type DiskRefusals } from './disk-reasons';
import { SPARSE_MAGIC, SparseFlag } from './vmdk-sparse-header';

/** 'QFI\xfb' as a big-endian uint32 (qcow2 is big-endian throughout). */
const QCOW2_MAGIC = 0x514649fb;
/** Bytes `sniffDiskFormat` looks at: every header field it reads lies within them. */
export const SNIFF_BYTES = 512;

/**
 * The image format a file's first bytes show, from magic and header fields; null when they show
 * none Dolly reads (raw has no signature, so it is never sniffed: it is what is left).
 */
export function sniffDiskFormat(head: Buffer): DiskImageFormat | null {
  if (head.length >= 4 && head.readUInt32BE(0) === QCOW2_MAGIC) return 'qcow2';
  if (head.length >= 12 && head.readUInt32LE(0) === SPARSE_MAGIC)
    // Markers are what makes a sparse extent a stream (VMDK 1.1, "Stream-Optimized Compressed Sparse Extents").
    return head.readUInt32LE(8) & SparseFlag.MARKERS
      ? 'vmdk-streamOptimized'
      : 'vmdk-monolithicSparse';
  return null;
}

/** Formats Dolly does not read but can name, so a refusal says what the file really is. */
const FOREIGN_SIGNATURES: { name: string; offset: number; bytes: Buffer }[] = [
  {
    name: 'a VMDK text descriptor (not an extent)',
    offset: 0,
    bytes: Buffer.from('# Disk DescriptorFile'),
  },
  { name: 'an ESX COWD VMDK', offset: 0, bytes: Buffer.from('COWD') },
  { name: 'a VHDX image', offset: 0, bytes: Buffer.from('vhdxfile') },
  { name: 'a VHD image', offset: 0, bytes: Buffer.from('conectix') },
  { name: 'a QED image', offset: 0, bytes: Buffer.from('QED\0', 'latin1') },
  { name: 'a VirtualBox VDI image', offset: 0x40, bytes: Buffer.from([0x7f, 0x10, 0xda, 0xbe]) },
  {
    name: 'a gzip stream (compressed, but not declared so)',
    offset: 0,
    bytes: Buffer.from([0x1f, 0x8b]),
  },
];

/** What the head shows, for humans: a format Dolly reads, one it only names, or null. */
export function describeHead(head: Buffer): string | null {
  const known = sniffDiskFormat(head);
  if (known) return `a ${known} image`;
  const foreign = FOREIGN_SIGNATURES.find(
    ({ offset, bytes }) =>
      head.length >= offset + bytes.length &&
      head.subarray(offset, offset + bytes.length).equals(bytes),
  );
  return foreign?.name ?? null;
}

/**
 * The reason the head is not the declared format, when it is not. Raw (and a flat extent) is any
 * bytes that show no image format: a raw disk starting with a qcow2 header is refused, since
 * whoever opens it later by probing would read it as qcow2 (and follow its backing file).
 */
export function checkDeclaredFormat(
  head: Buffer,
  declared: DiskImageFormat,
  refusals: DiskRefusals,
): boolean {
  const sniffed = sniffDiskFormat(head);
  const shown = describeHead(head);
  const isRawLike = declared === 'raw' || declared === 'vmdk-monolithicFlat';
  if (isRawLike ? shown === null : sniffed === declared) return true;
  if (isRawLike || sniffed !== null || shown !== null)
    refusals.add(
      DiskReasonCode.FORMAT_MISMATCH,
      `declared ${declared}, the content is ${shown ?? 'raw data'}`,
      0,
    );
  else if (declared === 'qcow2')
    refusals.add(DiskReasonCode.BAD_QCOW2, 'no qcow2 magic (QFI\\xfb) at the start of the file', 0);
  else
    refusals.add(
      DiskReasonCode.BAD_VMDK,
      'no VMDK sparse extent magic (KDMV) at the start of the file',
      0,
    );
  return false;
}

/** qcow2 incompatible feature bits (docs/interop/qcow2.txt): corrupt, external data file. */
const QCOW2_CORRUPT = 1n << 1n;
const QCOW2_EXTERNAL_DATA = 1n << 2n;
/** Dirty, corrupt, external data, compression type, extended L2: anything above is unknown. */
const QCOW2_KNOWN_INCOMPATIBLE = 0b11111n;

/**
 * A qcow2 header qemu-img may open from a package: its own size, no backing file and no external
 * data file (both are paths the package would choose on this host), not encrypted, not marked
 * corrupt, no incompatible feature this check does not know.
 */
export function checkQcow2Header(
  head: Buffer,
  capacityBytes: number,
  refusals: DiskRefusals,
): void {
  const bad = (detail: string, offset: number) =>
    refusals.add(DiskReasonCode.BAD_QCOW2, detail, offset);
  if (head.length < 72) {
    refusals.add(
      DiskReasonCode.TRUNCATED,
      `a qcow2 file of ${head.length} bytes ends inside its header`,
      head.length,
    );
    return;
  }
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) bad(`qcow2 version ${version} (Dolly reads 2 and 3)`, 4);
  if (head.readBigUInt64BE(8) !== 0n || head.readUInt32BE(16) !== 0)
    refusals.add(
      DiskReasonCode.HAS_PARENT,
      'the qcow2 names a backing file; a package disk must stand alone',
      8,
    );
  const clusterBits = head.readUInt32BE(20);
  if (clusterBits < 9 || clusterBits > 21)
    bad(`qcow2 cluster_bits ${clusterBits} (9 to 21 are valid)`, 20);
  const size = head.readBigUInt64BE(24);
  if (size !== BigInt(capacityBytes))
    refusals.add(
      DiskReasonCode.CAPACITY_MISMATCH,
      `qcow2 size ${size} bytes, the descriptor declares ${capacityBytes}`,
      24,
    );
  if (head.readUInt32BE(32) !== 0)
    refusals.add(
      DiskReasonCode.ENCRYPTED,
      `the qcow2 is encrypted (method ${head.readUInt32BE(32)})`,
      32,
    );
  if (version !== 3) return;
  if (head.length < 104) {
    refusals.add(
      DiskReasonCode.TRUNCATED,
      `a qcow2 version 3 file of ${head.length} bytes ends inside its header`,
      head.length,
    );
    return;
  }
  const incompatible = head.readBigUInt64BE(72);
  if (incompatible & QCOW2_CORRUPT) bad('the qcow2 is marked corrupt', 72);
  if (incompatible & QCOW2_EXTERNAL_DATA)
    refusals.add(
      DiskReasonCode.HAS_PARENT,
      'the qcow2 keeps its data in an external file; a package disk must stand alone',
      72,
    );
  if (incompatible & ~QCOW2_KNOWN_INCOMPATIBLE)
    bad(`qcow2 incompatible features 0x${incompatible.toString(16)} include unknown bits`, 72);
  const headerLength = head.readUInt32BE(100);
  if (headerLength < 104 || headerLength > 0x10000 || headerLength % 8 !== 0)
    bad(`qcow2 header_length ${headerLength}`, 100);
}
