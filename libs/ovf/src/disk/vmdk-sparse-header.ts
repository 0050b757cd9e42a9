import { DiskReasonCode, type DiskRefusals } from './disk-reasons';

/**
 * The hosted sparse extent header of the VMware Virtual Disk Format 1.1 (section "Hosted Sparse
 * Extent Header"): one little-endian sector at the start of a monolithicSparse or
 * streamOptimized VMDK, and again as the footer of a stream.
 */
export const SECTOR_BYTES = 512;
/** 'KDMV' as a little-endian uint32 (the bytes "KDMV"). */
export const SPARSE_MAGIC = 0x564d444b;
/** gdOffset of a stream whose grain directory comes at its end, found through the footer. */
export const GD_AT_END = 0xffffffffffffffffn;

export const SparseFlag = {
  /** The four newline characters are set, so a text-mode transfer that mangled them shows. */
  VALID_NEWLINE_TEST: 1 << 0,
  REDUNDANT_GRAIN_TABLE: 1 << 1,
  /** Grain table entries may say "zero grain" (1) instead of pointing at one. */
  ZEROED_GRAIN_ENTRIES: 1 << 2,
  COMPRESSED_GRAINS: 1 << 16,
  MARKERS: 1 << 17,
} as const;
const KNOWN_FLAGS = Object.values(SparseFlag).reduce((all, flag) => all | flag, 0);
const COMPRESSION_DEFLATE = 1;

/** Grain sizes (sectors) Dolly reads: the format wants a power of two above 4 KiB; 1 MiB bounds a grain in memory. */
export const MIN_GRAIN_SECTORS = 8;
export const MAX_GRAIN_SECTORS = 2048;
/** Every writer (VMware, qemu) uses 512 entries per grain table; the marker sizes follow from it. */
const GRAIN_TABLE_ENTRIES = 512;
/** An embedded descriptor is text of a few hundred bytes; 1 MiB bounds what is held to read it. */
export const MAX_DESCRIPTOR_SECTORS = 2048;

export interface SparseHeader {
  version: number;
  flags: number;
  capacitySectors: number;
  grainSectors: number;
  descriptorOffsetSectors: number;
  descriptorSectors: number;
  grainTableEntries: number;
  redundantDirectoryOffsetSectors: bigint;
  /** GD_AT_END, or the sector of the grain directory. */
  directoryOffsetSectors: bigint;
  overheadSectors: number;
  compressAlgorithm: number;
  /** The fields a stream's footer must repeat, as raw bytes (magic to overHead, less gdOffset). */
  invariantBytes: Buffer;
}

/** The header's fields as written; null when the sector does not start with the magic. */
export function readSparseHeader(sector: Buffer): SparseHeader | null {
  if (sector.length < SECTOR_BYTES || sector.readUInt32LE(0) !== SPARSE_MAGIC) return null;
  return {
    version: sector.readUInt32LE(4),
    flags: sector.readUInt32LE(8),
    capacitySectors: safeNumber(sector.readBigUInt64LE(12)),
    grainSectors: safeNumber(sector.readBigUInt64LE(20)),
    descriptorOffsetSectors: safeNumber(sector.readBigUInt64LE(28)),
    descriptorSectors: safeNumber(sector.readBigUInt64LE(36)),
    grainTableEntries: sector.readUInt32LE(44),
    redundantDirectoryOffsetSectors: sector.readBigUInt64LE(48),
    directoryOffsetSectors: sector.readBigUInt64LE(56),
    overheadSectors: safeNumber(sector.readBigUInt64LE(64)),
    compressAlgorithm: sector.readUInt16LE(77),
    invariantBytes: Buffer.concat([sector.subarray(0, 56), sector.subarray(64, 79)]),
  };
}

/** Sector counts beyond 2^53 bytes are no disk: they become NaN and fail every check below. */
function safeNumber(value: bigint): number {
  return value * BigInt(SECTOR_BYTES) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : NaN;
}

export type SparseKind = 'streamOptimized' | 'monolithicSparse';

/**
 * Every reason the header is unusable for the kind declared, collected at once. Returns false when
 * the header is too broken to go on reading the file.
 */
export function checkSparseHeader(
  header: SparseHeader,
  sector: Buffer,
  kind: SparseKind,
  capacityBytes: number,
  refusals: DiskRefusals,
): boolean {
  const before = refusals.any;
  const bad = (detail: string) => refusals.add(DiskReasonCode.BAD_VMDK, detail, 0);
  if (![1, 2, 3].includes(header.version))
    bad(`VMDK sparse header version ${header.version} (Dolly reads versions 1 to 3)`);
  const unknownFlags = header.flags & ~KNOWN_FLAGS;
  if (unknownFlags !== 0)
    bad(
      `VMDK header flags 0x${header.flags.toString(16)} include unknown bits 0x${unknownFlags.toString(16)}`,
    );
  if (header.flags & SparseFlag.VALID_NEWLINE_TEST) {
    const newlines = sector.subarray(73, 77).toString('latin1');
    if (newlines !== '\n \r\n')
      bad(
        'the VMDK header newline test characters are altered (the file went through a text-mode transfer)',
      );
  }
  if (
    !isPowerOfTwo(header.grainSectors) ||
    header.grainSectors < MIN_GRAIN_SECTORS ||
    header.grainSectors > MAX_GRAIN_SECTORS
  )
    bad(
      `VMDK grain size ${header.grainSectors} sectors: a power of two from ${MIN_GRAIN_SECTORS} to ${MAX_GRAIN_SECTORS} is required`,
    );
  if (header.grainTableEntries !== GRAIN_TABLE_ENTRIES)
    bad(
      `VMDK header says ${header.grainTableEntries} entries per grain table (the format has ${GRAIN_TABLE_ENTRIES})`,
    );
  if (!Number.isFinite(header.capacitySectors) || header.capacitySectors === 0)
    bad('VMDK header capacity is zero or beyond any disk');
  else if (header.capacitySectors * SECTOR_BYTES !== capacityBytes)
    refusals.add(
      DiskReasonCode.CAPACITY_MISMATCH,
      `VMDK header capacity ${header.capacitySectors * SECTOR_BYTES} bytes, the descriptor declares ${capacityBytes}`,
      12,
    );
  const descriptorEnd = header.descriptorOffsetSectors + header.descriptorSectors;
  if (
    !(header.descriptorOffsetSectors >= 1) ||
    !(header.descriptorSectors >= 1) ||
    header.descriptorSectors > MAX_DESCRIPTOR_SECTORS
  )
    bad(
      `VMDK embedded descriptor at sector ${header.descriptorOffsetSectors}, ${header.descriptorSectors} sectors long: one of 1 to ${MAX_DESCRIPTOR_SECTORS} sectors after the header is required`,
    );
  else if (!(header.overheadSectors >= descriptorEnd))
    bad(
      `VMDK overhead of ${header.overheadSectors} sectors ends before the embedded descriptor (sector ${descriptorEnd})`,
    );

  if (kind === 'streamOptimized') {
    if (!(header.flags & SparseFlag.COMPRESSED_GRAINS) || !(header.flags & SparseFlag.MARKERS))
      refusals.add(
        DiskReasonCode.FORMAT_MISMATCH,
        'declared a streamOptimized VMDK, but its header has no compressed grains with markers (a monolithicSparse VMDK)',
        8,
      );
    if (header.compressAlgorithm !== COMPRESSION_DEFLATE)
      bad(`VMDK compression algorithm ${header.compressAlgorithm} (a stream uses 1, deflate)`);
    if (header.directoryOffsetSectors !== GD_AT_END && !directoryBeforeGrains(header))
      bad(
        `VMDK grain directory at sector ${header.directoryOffsetSectors}: a stream has it at its end or before its first grain`,
      );
  } else {
    if (header.flags & SparseFlag.MARKERS)
      refusals.add(
        DiskReasonCode.FORMAT_MISMATCH,
        'declared a monolithicSparse VMDK, but its header uses stream markers (a streamOptimized VMDK)',
        8,
      );
    if (header.directoryOffsetSectors === GD_AT_END)
      bad(
        'a monolithicSparse VMDK with its grain directory at its end (only a stream may defer it)',
      );
  }
  return refusals.any === before || onlyReasonsToGoOn(header);
}

/** Capacity and format reasons leave the stream readable (so later reasons are found too); bad geometry does not. */
function onlyReasonsToGoOn(header: SparseHeader): boolean {
  return (
    [1, 2, 3].includes(header.version) &&
    (header.flags & ~KNOWN_FLAGS) === 0 &&
    isPowerOfTwo(header.grainSectors) &&
    header.grainSectors >= MIN_GRAIN_SECTORS &&
    header.grainSectors <= MAX_GRAIN_SECTORS &&
    header.grainTableEntries === GRAIN_TABLE_ENTRIES &&
    Number.isFinite(header.capacitySectors) &&
    header.capacitySectors > 0 &&
    header.descriptorOffsetSectors >= 1 &&
    header.descriptorSectors >= 1 &&
    header.descriptorSectors <= MAX_DESCRIPTOR_SECTORS &&
    header.overheadSectors >= header.descriptorOffsetSectors + header.descriptorSectors &&
    (header.flags & SparseFlag.COMPRESSED_GRAINS) !== 0 &&
    (header.flags & SparseFlag.MARKERS) !== 0 &&
    header.compressAlgorithm === COMPRESSION_DEFLATE &&
    (header.directoryOffsetSectors === GD_AT_END || directoryBeforeGrains(header))
  );
}

/** qemu-img's layout: the grain directory in the overhead, before the first grain. */
function directoryBeforeGrains(header: SparseHeader): boolean {
  return (
    Number.isFinite(header.overheadSectors) &&
    header.directoryOffsetSectors < BigInt(header.overheadSectors)
  );
}

/** Sectors of one grain table, and of the directory of all of them, as their markers must say. */
export function metadataSectors(header: SparseHeader): {
  grainTable: number;
  grainDirectory: number;
} {
  const grains = Math.ceil(header.capacitySectors / header.grainSectors);
  const tables = Math.ceil(grains / header.grainTableEntries);
  return {
    grainTable: Math.ceil((header.grainTableEntries * 4) / SECTOR_BYTES),
    grainDirectory: Math.ceil((tables * 4) / SECTOR_BYTES),
  };
}

export function isPowerOfTwo(value: number): boolean {
  return Number.isInteger(value) && value > 0 && (value & (value - 1)) === 0;
}

/**
 * The embedded descriptor of a sparse VMDK (section "Text Descriptor"): checked for the kind
 * declared, for one extent that is this file with the header's capacity, and for no parent, as
 * qemu-img would open a parentFileNameHint, a path the package chose.
 */
export function checkEmbeddedDescriptor(
  bytes: Buffer,
  header: SparseHeader,
  kind: SparseKind,
  offsetBytes: number,
  refusals: DiskRefusals,
): void {
  const end = bytes.indexOf(0);
  const text = bytes.subarray(0, end < 0 ? bytes.length : end).toString('latin1');
  const bad = (detail: string) => refusals.add(DiskReasonCode.BAD_VMDK, detail, offsetBytes);
  if (!/^#\s*Disk DescriptorFile/m.test(text)) {
    bad('the VMDK embedded descriptor does not start with "# Disk DescriptorFile"');
    return;
  }
  const settings = new Map<string, string>();
  const extents: string[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/^(RW|RDONLY|NOACCESS)\s/.test(line)) extents.push(line);
    const setting = /^([A-Za-z0-9_.]+)\s*=\s*"?([^"]*)"?$/.exec(line);
    if (setting) settings.set(setting[1].toLowerCase(), setting[2].trim());
  }
  const createType = settings.get('createtype');
  if (createType === undefined) bad('the VMDK embedded descriptor has no createType');
  else if (createType !== kind)
    refusals.add(
      DiskReasonCode.FORMAT_MISMATCH,
      `declared a ${kind} VMDK, its embedded descriptor says createType="${createType}"`,
      offsetBytes,
    );
  const parentCid = settings.get('parentcid');
  if (
    (parentCid !== undefined && parentCid.toLowerCase() !== 'ffffffff') ||
    settings.has('parentfilenamehint')
  )
    refusals.add(
      DiskReasonCode.HAS_PARENT,
      `the VMDK is a delta of a parent disk (parentCID=${parentCid ?? '?'}${settings.has('parentfilenamehint') ? `, parentFileNameHint="${settings.get('parentfilenamehint')}"` : ''}); a package disk must stand alone`,
      offsetBytes,
    );
  if (extents.length !== 1) {
    bad(
      `the VMDK embedded descriptor lists ${extents.length} extents (a ${kind} VMDK has exactly one, itself)`,
    );
    return;
  }
  const extent = /^(RW|RDONLY)\s+(\d+)\s+SPARSE\s+"[^"]*"$/.exec(extents[0]);
  if (!extent)
    bad(`the VMDK extent "${extents[0].slice(0, 120)}" is not one readable sparse extent`);
  else if (Number(extent[2]) !== header.capacitySectors)
    bad(`the VMDK extent has ${extent[2]} sectors, its header ${header.capacitySectors}`);
}
