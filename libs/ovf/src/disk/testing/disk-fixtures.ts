/**
 * Disks for the OVF specs, made by the real tools (qemu-img, qemu-io), and a sink that writes
 * guest data into a sparse raw file, so `qemu-img compare` can judge what a decoder wrote.
 */
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import { type DiskSink, type GuestData } from '../../model';

const execFileAsync = promisify(execFile);

export async function run(command: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(command, args, { maxBuffer: 16 << 20 });
  return stdout;
}

export const GiB = 1 << 30;
export const MiB = 1 << 20;

/** A 1 GiB qcow2 with data at its start, in its middle and in its last half MiB. */
export async function makeSourceQcow2(dir: string, name = 'source.qcow2'): Promise<string> {
  const path = join(dir, name);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', path, String(GiB)]);
  await run('qemu-io', [
    '-f',
    'qcow2',
    '-c',
    'write -P 0x5a 0 1M',
    '-c',
    'write -P 0x33 300M 64k',
    '-c',
    `write -P 0x77 ${GiB - 512 * 1024} 512k`,
    path,
  ]);
  return path;
}

export async function convert(
  source: string,
  sourceFormat: string,
  target: string,
  targetFormat: string,
  subformat?: string,
): Promise<string> {
  const options = subformat ? ['-o', `subformat=${subformat}`] : [];
  await run('qemu-img', [
    'convert',
    '-f',
    sourceFormat,
    '-O',
    targetFormat,
    ...options,
    source,
    target,
  ]);
  return target;
}

/** The file's bytes in chunks of exactly `chunkBytes` (the last shorter), as an archive reader might deliver them. */
export async function* chunksOf(path: string, chunkBytes: number): AsyncGenerator<Buffer> {
  let carry = Buffer.alloc(0);
  for await (const read of createReadStream(path, {
    highWaterMark: Math.max(chunkBytes, 1 << 20),
  })) {
    const data = carry.length > 0 ? Buffer.concat([carry, read as Buffer]) : (read as Buffer);
    let start = 0;
    for (; start + chunkBytes <= data.length; start += chunkBytes)
      yield data.subarray(start, start + chunkBytes);
    carry = Buffer.from(data.subarray(start));
  }
  if (carry.length > 0) yield carry;
}

export async function* chunksOfBuffer(data: Buffer, chunkBytes: number): AsyncGenerator<Buffer> {
  for (let start = 0; start < data.length; start += chunkBytes)
    yield data.subarray(start, start + chunkBytes);
}

/** A sink into a sparse raw file of the disk's capacity; spooled images are converted into it by qemu-img. */
export class RawFileSink implements DiskSink {
  writes = 0;
  spooled: 'vmdk' | 'qcow2' | null = null;

  private constructor(
    readonly rawPath: string,
    private readonly capacityBytes: number,
  ) {}

  static async create(rawPath: string, capacityBytes: number): Promise<RawFileSink> {
    await writeFile(rawPath, '');
    await truncate(rawPath, capacityBytes);
    return new RawFileSink(rawPath, capacityBytes);
  }

  async write(offsetBytes: number, data: GuestData): Promise<void> {
    const parts = Buffer.isBuffer(data) ? [data] : [...data];
    const lengthBytes = parts.reduce((sum, part) => sum + part.length, 0);
    if (offsetBytes < 0 || offsetBytes + lengthBytes > this.capacityBytes)
      throw new Error(
        `write of ${lengthBytes} bytes at ${offsetBytes} outside a ${this.capacityBytes}-byte disk`,
      );
    this.writes++;
    const file = await open(this.rawPath, 'r+');
    try {
      await file.writev(parts, offsetBytes);
    } finally {
      await file.close();
    }
  }

  async spool(content: AsyncIterable<Buffer>, format: 'vmdk' | 'qcow2'): Promise<void> {
    const spoolPath = `${this.rawPath}.spool`;
    await pipeline(content, createWriteStream(spoolPath));
    this.spooled = format;
    await run('qemu-img', ['convert', '-f', format, '-O', 'raw', spoolPath, this.rawPath]);
  }
}

/** Whether qemu-img finds the two images' guest content identical (exit 0), with its message otherwise. */
export async function compareImages(
  a: string,
  aFormat: string,
  b: string,
  bFormat: string,
): Promise<string> {
  try {
    return (await run('qemu-img', ['compare', '-f', aFormat, '-F', bFormat, a, b])).trim();
  } catch (error) {
    return `differ: ${(error as { stdout?: string }).stdout ?? (error as Error).message}`.trim();
  }
}

export interface StreamGrain {
  lbaSectors: number;
  compressed: Buffer;
}

/** The grains of a qemu-made streamOptimized VMDK, read by a parser of the test's own. */
export async function grainsOf(
  vmdkPath: string,
): Promise<{ capacitySectors: number; grains: StreamGrain[] }> {
  const file = await readFile(vmdkPath);
  const capacitySectors = Number(file.readBigUInt64LE(12));
  const grains: StreamGrain[] = [];
  let position = Number(file.readBigUInt64LE(64)) * 512;
  while (position + 12 <= file.length) {
    const lbaSectors = Number(file.readBigUInt64LE(position));
    const size = file.readUInt32LE(position + 8);
    if (size === 0) break;
    grains.push({ lbaSectors, compressed: file.subarray(position + 12, position + 12 + size) });
    position += Math.ceil((12 + size) / 512) * 512;
  }
  return { capacitySectors, grains };
}

const GD_AT_END = 0xffffffffffffffffn;

/**
 * A streamOptimized VMDK laid out as VMware writes one (VMDK 1.1): header with the grain directory
 * at the end, descriptor, grains, a grain table marker after each table's grains, the grain
 * directory marker, the footer marker and footer, the end-of-stream marker.
 */
export function buildVmwareStream(
  capacitySectors: number,
  grains: StreamGrain[],
  options: { grainSectors?: number; descriptorCreateType?: string } = {},
): Buffer {
  const grainSectors = options.grainSectors ?? 128;
  const overheadSectors = 128;
  const sectors: Buffer[] = [];
  let sectorCount = 0;
  const append = (data: Buffer) => {
    const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
    data.copy(padded);
    sectors.push(padded);
    const at = sectorCount;
    sectorCount += padded.length / 512;
    return at;
  };
  const header = (directorySector: bigint) => {
    const sector = Buffer.alloc(512);
    sector.write('KDMV', 0, 'latin1');
    sector.writeUInt32LE(3, 4);
    sector.writeUInt32LE(0x30001, 8);
    sector.writeBigUInt64LE(BigInt(capacitySectors), 12);
    sector.writeBigUInt64LE(BigInt(grainSectors), 20);
    sector.writeBigUInt64LE(1n, 28);
    sector.writeBigUInt64LE(20n, 36);
    sector.writeUInt32LE(512, 44);
    sector.writeBigUInt64LE(0n, 48);
    sector.writeBigUInt64LE(directorySector, 56);
    sector.writeBigUInt64LE(BigInt(overheadSectors), 64);
    sector.write('\n \r\n', 73, 'latin1');
    sector.writeUInt16LE(1, 77);
    return sector;
  };
  const metadataMarker = (sectorsFollowing: number, type: number) => {
    const sector = Buffer.alloc(512);
    sector.writeBigUInt64LE(BigInt(sectorsFollowing), 0);
    sector.writeUInt32LE(type, 12);
    return sector;
  };
  append(header(GD_AT_END));
  const descriptor = [
    '# Disk DescriptorFile',
    'version=1',
    'CID=12345678',
    'parentCID=ffffffff',
    `createType="${options.descriptorCreateType ?? 'streamOptimized'}"`,
    '',
    `RW ${capacitySectors} SPARSE "disk.vmdk"`,
    '',
    'ddb.adapterType = "lsilogic"',
    '',
  ].join('\n');
  const descriptorSector = Buffer.alloc(20 * 512);
  descriptorSector.write(descriptor, 0, 'latin1');
  append(descriptorSector);
  append(Buffer.alloc((overheadSectors - sectorCount) * 512));

  const tableSpan = 512 * grainSectors;
  const tableCount = Math.ceil(Math.ceil(capacitySectors / grainSectors) / 512);
  const directory = Buffer.alloc(Math.ceil((tableCount * 4) / 512) * 512);
  let table: Buffer | null = null;
  let tableIndex = -1;
  const flushTable = () => {
    if (table === null) return;
    append(metadataMarker(4, 1));
    const at = append(table);
    if (tableIndex < tableCount) directory.writeUInt32LE(at, tableIndex * 4);
    table = null;
  };
  for (const grain of grains) {
    const index = Math.floor(grain.lbaSectors / tableSpan);
    if (index !== tableIndex) {
      flushTable();
      table = Buffer.alloc(2048);
      tableIndex = index;
    }
    const marker = Buffer.alloc(12);
    marker.writeBigUInt64LE(BigInt(grain.lbaSectors), 0);
    marker.writeUInt32LE(grain.compressed.length, 8);
    const at = append(Buffer.concat([marker, grain.compressed]));
    const entry = (grain.lbaSectors % tableSpan) / grainSectors;
    if (table !== null && Number.isInteger(entry) && entry < 512)
      (table as Buffer).writeUInt32LE(at, entry * 4);
  }
  flushTable();
  append(metadataMarker(directory.length / 512, 2));
  const directorySector = append(directory);
  append(metadataMarker(1, 3));
  append(header(BigInt(directorySector)));
  append(metadataMarker(0, 0));
  return Buffer.concat(sectors);
}

/** A grain that inflates to `inflatedBytes` of zeros: a zip bomb when that passes the grain size. */
export function zerosGrain(lbaSectors: number, inflatedBytes: number): StreamGrain {
  return { lbaSectors, compressed: deflateSync(Buffer.alloc(inflatedBytes)) };
}
