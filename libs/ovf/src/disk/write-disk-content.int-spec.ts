import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { type DiskImageFormat, type DiskSink, PackageRefused } from '../model';
import {
  GiB,
  MiB,
  RawFileSink,
  buildVmwareStream,
  chunksOf,
  chunksOfBuffer,
  compareImages,
  convert,
  grainsOf,
  makeSourceQcow2,
  run,
  zerosGrain,
} from './testing/disk-fixtures';
import { DiskReasonCode, writeDiskContent } from '.';

let dir: string;
let source: string;
let streamVmdk: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dolly-ovf-disk-'));
  source = await makeSourceQcow2(dir);
  streamVmdk = await convert(source, 'qcow2', join(dir, 'stream.vmdk'), 'vmdk', 'streamOptimized');
});

afterAll(() => rm(dir, { recursive: true, force: true }));

let rawCounter = 0;
async function importInto(
  content: AsyncIterable<Buffer>,
  declared: DiskImageFormat,
  capacityBytes = GiB,
): Promise<{ sink: RawFileSink; guestBytesWritten: number; progress: number }> {
  const sink = await RawFileSink.create(join(dir, `target-${rawCounter++}.raw`), capacityBytes);
  let progress = 0;
  const { guestBytesWritten } = await writeDiskContent(content, declared, capacityBytes, sink, {
    onGuestBytes: (n) => (progress += n),
  });
  return { sink, guestBytesWritten, progress };
}

/** The refusal's codes; fails the test when anything but a PackageRefused comes out. */
async function refusalCodes(run: Promise<unknown>): Promise<string[]> {
  const error = await run.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof PackageRefused))
    throw new Error(`expected a PackageRefused, got ${String(error)}`);
  return error.reasons.map((reason) => reason.code);
}

/** A sink that must never be reached: refusals come before any write. */
const untouchableSink: DiskSink = {
  write: () => Promise.reject(new Error('unexpected write')),
  spool: () => Promise.reject(new Error('unexpected spool')),
};

describe('a streamOptimized VMDK made by qemu-img', () => {
  it.each([1, 777, MiB])(
    'decodes in chunks of %i bytes to the same guest content',
    async (chunkBytes) => {
      const { sink, guestBytesWritten, progress } = await importInto(
        chunksOf(streamVmdk, chunkBytes),
        'vmdk-streamOptimized',
      );
      expect(await compareImages(sink.rawPath, 'raw', source, 'qcow2')).toBe(
        'Images are identical.',
      );
      // 1 MiB at 0, 64 KiB at 300 MiB, 512 KiB at the end: zero grains are never written.
      expect(guestBytesWritten).toBe(MiB + 64 * 1024 + 512 * 1024);
      expect(progress).toBe(guestBytesWritten);
    },
  );

  it('decodes an empty disk (no grain, no end-of-stream marker) to zeros without writing', async () => {
    const empty = join(dir, 'empty.raw');
    await run('qemu-img', ['create', '-q', '-f', 'raw', empty, String(64 * MiB)]);
    const vmdk = await convert(empty, 'raw', join(dir, 'empty.vmdk'), 'vmdk', 'streamOptimized');
    const { sink, guestBytesWritten } = await importInto(
      chunksOf(vmdk, 4096),
      'vmdk-streamOptimized',
      64 * MiB,
    );
    expect(guestBytesWritten).toBe(0);
    expect(sink.writes).toBe(0);
  });

  it('decodes a capacity that ends inside a grain and incompressible grains', async () => {
    const raw = join(dir, 'odd.raw');
    const capacity = 1_000_000_000 - (1_000_000_000 % 512);
    await run('qemu-img', ['create', '-q', '-f', 'raw', raw, String(capacity)]);
    const random = join(dir, 'random.bin');
    await writeFile(
      random,
      Buffer.from(Array.from({ length: 3 * 65536 }, () => Math.floor(Math.random() * 256))),
    );
    await run('dd', [
      `if=${random}`,
      `of=${raw}`,
      'bs=65536',
      'seek=7',
      'conv=notrunc',
      'status=none',
    ]);
    await run('qemu-io', ['-f', 'raw', '-c', `write -P 0x11 ${capacity - 4096} 4096`, raw]);
    const vmdk = await convert(raw, 'raw', join(dir, 'odd.vmdk'), 'vmdk', 'streamOptimized');
    const { sink } = await importInto(chunksOf(vmdk, 777), 'vmdk-streamOptimized', capacity);
    expect(await compareImages(sink.rawPath, 'raw', raw, 'raw')).toBe('Images are identical.');
  });
});

describe('writes to the sink', () => {
  /** A sink that answers each write after a turn, counting what is in flight at once. */
  class SlowSink implements DiskSink {
    inFlight = 0;
    mostInFlight = 0;
    inFlightBytes = 0;
    mostInFlightBytes = 0;
    largestWrite = 0;
    written = 0;
    constructor(private readonly failAtWrite = Infinity) {}
    async write(_offsetBytes: number, data: Buffer): Promise<void> {
      this.inFlight++;
      this.inFlightBytes += data.length;
      this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
      this.mostInFlightBytes = Math.max(this.mostInFlightBytes, this.inFlightBytes);
      this.largestWrite = Math.max(this.largestWrite, data.length);
      await new Promise((resolve) => setTimeout(resolve, 1));
      this.inFlight--;
      this.inFlightBytes -= data.length;
      if (++this.written === this.failAtWrite) throw new Error('the disk failed');
    }
    spool = untouchableSink.spool;
  }

  it('go several at once, joined and bounded, and all are answered before it returns', async () => {
    const sink = new SlowSink();
    const raw = Buffer.alloc(32 * MiB, 7);
    await writeDiskContent(chunksOfBuffer(raw, 64 * 1024), 'raw', raw.length, sink);
    expect(sink.inFlight).toBe(0);
    expect(sink.mostInFlight).toBeGreaterThan(1);
    expect(sink.mostInFlightBytes).toBeLessThanOrEqual(8 * MiB);
    expect(sink.largestWrite).toBeLessThanOrEqual(MiB);
  });

  it('a write that fails fails the import with its error, whichever write it was', async () => {
    for (const failAtWrite of [1, 5, 32]) {
      const raw = Buffer.alloc(32 * MiB, 7);
      await expect(
        writeDiskContent(
          chunksOfBuffer(raw, 64 * 1024),
          'raw',
          raw.length,
          new SlowSink(failAtWrite),
        ),
      ).rejects.toThrow('the disk failed');
    }
  });
});

describe('a streamOptimized VMDK in VMware layout (grain directory, footer and end-of-stream at the end)', () => {
  it('is one qemu-img reads as the source, and decodes to the same content', async () => {
    const { capacitySectors, grains } = await grainsOf(streamVmdk);
    const vmwareStream = join(dir, 'vmware-layout.vmdk');
    await writeFile(vmwareStream, buildVmwareStream(capacitySectors, grains));
    // qemu-img reads the footer and the grain directory: the layout the decoder expects is the format's.
    expect(await compareImages(vmwareStream, 'vmdk', source, 'qcow2')).toBe(
      'Images are identical.',
    );
    const { sink } = await importInto(chunksOf(vmwareStream, 777), 'vmdk-streamOptimized');
    expect(await compareImages(sink.rawPath, 'raw', source, 'qcow2')).toBe('Images are identical.');
  });

  it('is refused when it ends before its footer, even on a grain boundary', async () => {
    const { capacitySectors, grains } = await grainsOf(streamVmdk);
    const whole = buildVmwareStream(capacitySectors, grains);
    // Without the end-of-stream, footer, footer marker, directory and its marker.
    const cut = whole.subarray(0, whole.length - 5 * 512);
    expect(
      await refusalCodes(importInto(chunksOfBuffer(cut, 4096), 'vmdk-streamOptimized')),
    ).toContain(DiskReasonCode.TRUNCATED);
  });
});

describe('raw, monolithicFlat, monolithicSparse and qcow2', () => {
  it.each([1, 777, MiB])(
    'a raw disk in chunks of %i bytes writes its data and skips its zeros',
    async (chunkBytes) => {
      // Byte-sized chunks over a whole GiB would test patience, not the decoder: a smaller disk then.
      const capacity = { 1: 512 * 1024, 777: 4 * MiB }[chunkBytes] ?? GiB;
      const raw = join(dir, `raw-${chunkBytes}.raw`);
      if (chunkBytes === MiB) await convert(source, 'qcow2', raw, 'raw');
      else {
        await run('qemu-img', ['create', '-q', '-f', 'raw', raw, String(capacity)]);
        await run('qemu-io', [
          '-f',
          'raw',
          '-c',
          'write -P 0x5a 4096 70000',
          '-c',
          `write -P 0x21 ${capacity - 512} 512`,
          raw,
        ]);
      }
      const { sink, guestBytesWritten } = await importInto(
        chunksOf(raw, chunkBytes),
        'raw',
        capacity,
      );
      expect(await compareImages(sink.rawPath, 'raw', raw, 'raw')).toBe('Images are identical.');
      // Only the 64 KiB runs holding data are written: the source's three regions, or the small disk's three runs.
      expect(guestBytesWritten).toBe(
        capacity === GiB ? MiB + 64 * 1024 + 512 * 1024 : 3 * 64 * 1024,
      );
    },
  );

  it('a monolithicFlat extent is raw guest data', async () => {
    const flatDescriptor = join(dir, 'flat.vmdk');
    await convert(source, 'qcow2', flatDescriptor, 'vmdk', 'monolithicFlat');
    const { sink } = await importInto(
      chunksOf(join(dir, 'flat-flat.vmdk'), MiB),
      'vmdk-monolithicFlat',
    );
    expect(await compareImages(sink.rawPath, 'raw', source, 'qcow2')).toBe('Images are identical.');
  });

  it.each([1, 777, MiB])(
    'a monolithicSparse VMDK in chunks of %i bytes is spooled and converted',
    async (chunkBytes) => {
      const sparse = join(dir, 'sparse.vmdk');
      await convert(source, 'qcow2', sparse, 'vmdk', 'monolithicSparse');
      const { sink } = await importInto(chunksOf(sparse, chunkBytes), 'vmdk-monolithicSparse');
      expect(sink.spooled).toBe('vmdk');
      expect(await compareImages(sink.rawPath, 'raw', source, 'qcow2')).toBe(
        'Images are identical.',
      );
    },
  );

  it('a qcow2 is spooled and converted', async () => {
    const { sink, guestBytesWritten } = await importInto(chunksOf(source, 777), 'qcow2');
    expect(sink.spooled).toBe('qcow2');
    expect(guestBytesWritten).toBe(0);
    expect(await compareImages(sink.rawPath, 'raw', source, 'qcow2')).toBe('Images are identical.');
  });
});

describe('hostile disk content is refused with its reasons, never a crash', () => {
  let stream: Buffer;
  let firstGrainAt: number;
  beforeAll(async () => {
    stream = await readFile(streamVmdk);
    firstGrainAt = Number(stream.readBigUInt64LE(64)) * 512;
  });
  const refuse = (
    content: Buffer,
    declared: DiskImageFormat = 'vmdk-streamOptimized',
    capacity = GiB,
  ) => refusalCodes(importInto(chunksOfBuffer(content, 777), declared, capacity));

  it('a VMDK truncated inside a grain', async () => {
    expect(await refuse(stream.subarray(0, firstGrainAt + 40))).toEqual([DiskReasonCode.TRUNCATED]);
  });

  it('a VMDK truncated inside its header or its descriptor', async () => {
    expect(await refuse(stream.subarray(0, 300))).toEqual([DiskReasonCode.TRUNCATED]);
    expect(await refuse(stream.subarray(0, 2000))).toEqual([DiskReasonCode.TRUNCATED]);
  });

  it('a grain beyond the capacity, and one off a grain boundary, each said', async () => {
    const hostile = Buffer.from(stream);
    hostile.writeBigUInt64LE(BigInt(GiB / 512 + 128), firstGrainAt);
    hostile.writeBigUInt64LE(1n << 62n, firstGrainAt + 512);
    hostile.writeBigUInt64LE(300n, firstGrainAt + 1024);
    const refusal = await importInto(chunksOfBuffer(hostile, 777), 'vmdk-streamOptimized').catch(
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(PackageRefused);
    const reasons = (refusal as PackageRefused).reasons;
    expect(reasons.map((r) => r.code)).toEqual([
      DiskReasonCode.GRAIN_OUT_OF_RANGE,
      DiskReasonCode.GRAIN_OUT_OF_RANGE,
      DiskReasonCode.GRAIN_OUT_OF_RANGE,
    ]);
    expect(reasons[0].at).toBe(`byte ${firstGrainAt}`);
    expect(reasons[2].detail).toContain('grain boundary');
  });

  it('a grain whose zlib data is corrupted', async () => {
    const hostile = Buffer.from(stream);
    for (let i = 20; i < 40; i++) hostile[firstGrainAt + i] ^= 0xa5;
    expect(await refuse(hostile)).toEqual([DiskReasonCode.GRAIN_CORRUPT]);
  });

  it('a header capacity other than the declared one', async () => {
    expect(await refuse(stream, 'vmdk-streamOptimized', GiB - 64 * 1024)).toEqual([
      DiskReasonCode.CAPACITY_MISMATCH,
    ]);
  });

  it('a zip bomb grain (16 MiB of zeros in 16 KiB) stops at the grain size', async () => {
    const started = Date.now();
    const bomb = buildVmwareStream(GiB / 512, [
      zerosGrain(0, 64 * 1024),
      zerosGrain(128, 16 * MiB),
    ]);
    expect(await refuse(bomb)).toEqual([DiskReasonCode.GRAIN_TOO_LARGE]);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a grain that inflates to less than a grain', async () => {
    const short = buildVmwareStream(GiB / 512, [
      { lbaSectors: 0, compressed: deflateSync(Buffer.alloc(4096, 1)) },
    ]);
    expect(await refuse(short)).toEqual([DiskReasonCode.GRAIN_CORRUPT]);
  });

  it('grains out of order, or twice', async () => {
    const grain = deflateSync(Buffer.alloc(65536, 7));
    const twice = buildVmwareStream(GiB / 512, [
      { lbaSectors: 256, compressed: grain },
      { lbaSectors: 256, compressed: grain },
      { lbaSectors: 128, compressed: grain },
    ]);
    expect(await refuse(twice)).toEqual([
      DiskReasonCode.GRAIN_OUT_OF_RANGE,
      DiskReasonCode.GRAIN_OUT_OF_RANGE,
    ]);
  });

  it('a wrong magic', async () => {
    const hostile = Buffer.from(stream);
    hostile.write('XXXX', 0, 'latin1');
    expect(await refuse(hostile)).toEqual([DiskReasonCode.BAD_VMDK]);
  });

  it('a header with every field wrong says every reason at once', async () => {
    const hostile = Buffer.from(stream);
    hostile.writeUInt32LE(9, 4); // version
    hostile.writeBigUInt64LE(100n, 20); // grain size, not a power of two
    hostile.write('\r\n\n ', 73, 'latin1'); // newline test
    const codes = await refuse(hostile, 'vmdk-streamOptimized', 2 * GiB);
    expect(codes).toEqual([
      DiskReasonCode.BAD_VMDK,
      DiskReasonCode.BAD_VMDK,
      DiskReasonCode.BAD_VMDK,
      DiskReasonCode.CAPACITY_MISMATCH,
    ]);
  });

  it('data after the end-of-stream marker', async () => {
    const { capacitySectors, grains } = await grainsOf(streamVmdk);
    const trailing = Buffer.concat([
      buildVmwareStream(capacitySectors, grains),
      Buffer.from('tail'),
    ]);
    expect(await refuse(trailing)).toEqual([DiskReasonCode.TRAILING_DATA]);
  });

  it('a qcow2 declared as streamOptimized, a VMDK declared as qcow2 or raw, and back', async () => {
    const qcow2 = await readFile(source);
    expect(
      await refusalCodes(
        writeDiskContent(chunksOfBuffer(qcow2, MiB), 'vmdk-streamOptimized', GiB, untouchableSink),
      ),
    ).toEqual([DiskReasonCode.FORMAT_MISMATCH]);
    expect(
      await refusalCodes(
        writeDiskContent(chunksOfBuffer(stream, MiB), 'qcow2', GiB, untouchableSink),
      ),
    ).toEqual([DiskReasonCode.FORMAT_MISMATCH]);
    expect(
      await refusalCodes(writeDiskContent(chunksOfBuffer(qcow2, MiB), 'raw', GiB, untouchableSink)),
    ).toEqual([DiskReasonCode.FORMAT_MISMATCH]);
    const sparse = await readFile(
      await convert(source, 'qcow2', join(dir, 'mismatch.vmdk'), 'vmdk', 'monolithicSparse'),
    );
    expect(
      await refusalCodes(
        writeDiskContent(chunksOfBuffer(sparse, MiB), 'vmdk-streamOptimized', GiB, untouchableSink),
      ),
    ).toEqual([DiskReasonCode.FORMAT_MISMATCH]);
    expect(
      await refusalCodes(
        writeDiskContent(
          chunksOfBuffer(stream, MiB),
          'vmdk-monolithicSparse',
          GiB,
          untouchableSink,
        ),
      ),
    ).toEqual([DiskReasonCode.FORMAT_MISMATCH]);
  });

  it('a raw disk shorter or longer than its capacity', async () => {
    const data = Buffer.alloc(3 * MiB, 1);
    expect(await refuse(data, 'raw', 4 * MiB)).toEqual([DiskReasonCode.CAPACITY_MISMATCH]);
    expect(await refuse(data, 'raw', 2 * MiB)).toEqual([DiskReasonCode.CAPACITY_MISMATCH]);
  });

  it('a qcow2 with a backing file, and one of another size', async () => {
    const child = join(dir, 'child.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', source, '-F', 'qcow2', child]);
    const content = chunksOf(child, 777);
    expect(
      await refusalCodes(writeDiskContent(content, 'qcow2', 2 * GiB, untouchableSink)),
    ).toEqual([DiskReasonCode.HAS_PARENT, DiskReasonCode.CAPACITY_MISMATCH]);
  });

  it('a monolithicSparse VMDK that is a delta of a parent', async () => {
    const base = await convert(source, 'qcow2', join(dir, 'base.vmdk'), 'vmdk', 'monolithicSparse');
    const delta = join(dir, 'delta.vmdk');
    await run('qemu-img', ['create', '-q', '-f', 'vmdk', '-b', base, '-F', 'vmdk', delta]);
    expect(
      await refusalCodes(
        writeDiskContent(chunksOf(delta, 777), 'vmdk-monolithicSparse', GiB, untouchableSink),
      ),
    ).toEqual([DiskReasonCode.HAS_PARENT]);
  });

  it('random byte mutations of a small stream never throw anything but PackageRefused, in bounded time', async () => {
    const raw = join(dir, 'tiny.raw');
    await run('qemu-img', ['create', '-q', '-f', 'raw', raw, String(MiB)]);
    await run('qemu-io', [
      '-f',
      'raw',
      '-c',
      'write -P 0x42 0 64k',
      '-c',
      'write -P 0x43 512k 128k',
      raw,
    ]);
    const tiny = await readFile(
      await convert(raw, 'raw', join(dir, 'tiny.vmdk'), 'vmdk', 'streamOptimized'),
    );
    const grainsStart = Number(tiny.readBigUInt64LE(64)) * 512;
    const position = fc.oneof(
      fc.integer({ min: 0, max: 511 }),
      fc.integer({ min: 512, max: grainsStart - 1 }),
      fc.integer({ min: grainsStart, max: tiny.length - 1 }),
    );
    let refusals = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(position, fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.option(fc.integer({ min: 0, max: tiny.length }), { nil: undefined }),
        fc.constantFrom(1, 511, 4096, MiB),
        async (mutations, truncateAt, chunkBytes) => {
          const mutated = Buffer.from(tiny.subarray(0, truncateAt));
          for (const [at, byte] of mutations) if (at < mutated.length) mutated[at] = byte;
          const writes: [number, number][] = [];
          const sink: DiskSink = {
            write: (offset, data) => {
              writes.push([offset, data.length]);
              return Promise.resolve();
            },
            spool: () => Promise.reject(new Error('a stream is never spooled')),
          };
          const started = Date.now();
          try {
            await writeDiskContent(
              chunksOfBuffer(mutated, chunkBytes),
              'vmdk-streamOptimized',
              MiB,
              sink,
            );
          } catch (error) {
            if (!(error instanceof PackageRefused)) throw error;
            expect(error.reasons.length).toBeGreaterThan(0);
            refusals++;
          }
          expect(Date.now() - started).toBeLessThan(2000);
          for (const [offset, length] of writes) expect(offset + length).toBeLessThanOrEqual(MiB);
        },
      ),
      { numRuns: 400 },
    );
    expect(refusals).toBeGreaterThan(100);
  });
});

describe('cancel', () => {
  it('stops at the signal with its reason, not a refusal', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled by the user'));
    const sink = await RawFileSink.create(join(dir, 'cancelled.raw'), GiB);
    await expect(
      writeDiskContent(chunksOf(streamVmdk, 777), 'vmdk-streamOptimized', GiB, sink, {
        signal: controller.signal,
      }),
    ).rejects.toThrow('cancelled by the user');
  });
});
