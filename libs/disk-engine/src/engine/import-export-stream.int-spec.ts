/**
 * beginDiskImport and stageExport against real qemu-img, qemu-io, qemu-nbd and the storage
 * daemon, each test on a datastore folder of its own: what a session writes reads back as a
 * reference image made by qemu-io, what an abort or a refusal leaves is exactly the folder as it
 * was, and staged VMDKs read back as their disks.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DiskErrorCode, isDiskEngineError } from '../errors';
import { type ImportDiskStream, type OperationProgress } from '../port';
import { run } from '../qemu/process';
import * as qemuImg from '../qemu/qemu-img';
import { MIB, type Sandbox, opId, pattern, sandbox, startEngine } from '../testing/fixtures';
import { WorkerProcess } from '../testing/worker-process';
import { type QemuDiskEngine, QemuDiskEngine as Engine } from './qemu-disk-engine';

jest.setTimeout(120_000);

let box: Sandbox;
let engine: QemuDiskEngine;
beforeEach(async () => {
  box = await sandbox('stream');
});
afterEach(async () => {
  await engine?.stop().catch(() => undefined);
  await box.cleanup();
});

/** Everything in the datastore folder but the engine's metadata, hidden files included. */
const files = async () => (await readdir(box.datastorePath)).filter((n) => n !== '.dolly').sort();
const diskFile = (diskId: string) => {
  const disk = engine.inventory().disks.find((d) => d.diskId === diskId)!;
  return join(box.datastorePath, `${disk.topLayerId}.qcow2`);
};

async function refused(promise: Promise<unknown>, code: DiskErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isDiskEngineError(error, code)) throw new Error(`expected ${code}, got ${String(error)}`);
}

/** A session of a new disk on ds1, under an operation id of its own. */
const beginImport = (diskId: string, capacityBytes: number, format: ImportDiskStream['format']) =>
  engine.beginDiskImport({
    operationId: opId(),
    datastoreId: 'ds1',
    diskId,
    capacityBytes,
    format,
  });

type Writes = Array<[offset: number, byte: number, length: number]>;

const WRITES: Writes = [
  [0, 0x11, 65536],
  [3 * MIB + 512, 0x22, 4096],
  [5 * MIB - 100, 0x33, 300], // across a cluster boundary, unaligned
  [8 * MIB - 65536, 0x44, 65536], // the last cluster
];

/** A reference image holding `writes`, made by qemu-io (not by the engine's NBD client). */
async function reference(name: string, capacityBytes: number, writes: Writes): Promise<string> {
  const file = join(box.dir, `${name}.qcow2`);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(capacityBytes)]);
  const commands = writes.flatMap(([offset, byte, length]) => [
    '-c',
    `write -P ${byte} ${offset} ${length}`,
  ]);
  await run('qemu-io', ['-f', 'qcow2', ...commands, file]);
  return file;
}

const sameContent = (a: string, b: { file: string; format: 'qcow2' | 'vmdk' }) =>
  qemuImg.compare({ file: a, format: 'qcow2' }, b);

describe('beginDiskImport: writes', () => {
  it('writes at several offsets read back as qemu-io wrote them, published as importImage does', async () => {
    engine = await startEngine(box);
    const before = await files();
    const progress: OperationProgress[] = [];
    const session = await engine.beginDiskImport(
      {
        operationId: opId(),
        datastoreId: 'ds1',
        diskId: 'imported',
        capacityBytes: 8 * MIB,
        format: 'thin',
      },
      { onProgress: (p) => progress.push(p) },
    );
    // Nothing is a disk yet, and no layer file is there.
    expect(engine.inventory().disks).toEqual([]);
    await Promise.all(
      WRITES.map(([offset, byte, length]) => session.write(offset, pattern(byte, length))),
    );
    const result = await session.commit();

    expect(result.events.map((e) => e.type)).toEqual(['LayerCreated', 'DiskCreated']);
    expect(result).toMatchObject({
      diskId: 'imported',
      datastoreId: 'ds1',
      capacityBytes: 8 * MIB,
    });
    expect(result.allocatedBytes).toBeGreaterThan(0);
    expect(await files()).toEqual([...before, `${result.layerId}.qcow2`].sort());
    expect(
      await sameContent(await reference('ref', 8 * MIB, WRITES), {
        file: diskFile('imported'),
        format: 'qcow2',
      }),
    ).toBe(true);
    const info = await qemuImg.info(diskFile('imported'), 'qcow2');
    expect(info).toMatchObject({ virtualSizeBytes: 8 * MIB, backingFileName: null });
    const written = WRITES.reduce((sum, [, , length]) => sum + length, 0);
    expect(progress.at(-1)).toMatchObject({
      phase: 'write',
      doneBytes: written,
      totalBytes: 8 * MIB,
    });
    // The same id again replays the outcome: the session is over, commit returns the result.
    const again = await engine.beginDiskImport({
      operationId: result.operationId,
      datastoreId: 'ds1',
      diskId: 'imported',
      capacityBytes: 8 * MIB,
      format: 'thin',
    });
    expect(await again.commit()).toEqual(result);
    await refused(again.write(0, pattern(1, 512)), 'DISK.BAD_REQUEST');
  });

  it.each(['thin', 'thick-lazy-zeroed', 'thick-eager-zeroed'] as const)(
    'makes a %s disk that really is one',
    async (format) => {
      engine = await startEngine(box);
      const session = await beginImport('d', 8 * MIB, format);
      for (const [offset, byte, length] of WRITES)
        await session.write(offset, pattern(byte, length));
      // Zeros written to a thin disk stay holes; a thick one has every cluster already.
      await session.write(6 * MIB, Buffer.alloc(MIB));
      await session.commit();
      const file = diskFile('d');
      expect(
        await sameContent(await reference('ref', 8 * MIB, WRITES), { file, format: 'qcow2' }),
      ).toBe(true);
      const map = await qemuImg.map(file, 'qcow2');
      const dataBytes = map
        .filter((e) => e.depth === 0 && !e.zero)
        .reduce((sum, e) => sum + e.lengthBytes, 0);
      const allocated = await qemuImg.allocatedBytes(file);
      if (format === 'thin') {
        // The clusters written, no more (the zeros left out).
        expect(dataBytes).toBe(4 * 65536 + 65536);
        expect(allocated).toBeLessThan(2 * MIB);
      } else {
        expect(map).toEqual([{ startBytes: 0, lengthBytes: 8 * MIB, depth: 0, zero: false }]);
        expect(allocated).toBeGreaterThanOrEqual(8 * MIB);
      }
    },
  );

  it('writes guest data given as parts as one write: the bytes of the parts in order, split where NBD requests end', async () => {
    engine = await startEngine(box);
    const session = await beginImport('parts', 16 * MIB, 'thin');
    // 3 MiB + 1 byte, 2 MiB, 1 byte, 1 MiB - 1: a 4 MiB NBD request ends inside the second part.
    const parts = [3 * MIB + 1, 2 * MIB, 1, MIB - 1].map((length) => randomBytes(length));
    const joined = Buffer.concat(parts);
    await session.write(MIB, parts);
    await session.write(9 * MIB, [Buffer.alloc(0), pattern(5, 4096), Buffer.alloc(0)]);
    await session.commit();
    const [content, tail] = await Promise.all([
      engine.read({ target: { diskId: 'parts' }, offsetBytes: MIB, lengthBytes: joined.length }),
      engine.read({ target: { diskId: 'parts' }, offsetBytes: 9 * MIB, lengthBytes: 4096 }),
    ]);
    expect(content.equals(joined)).toBe(true);
    expect(tail.equals(pattern(5, 4096))).toBe(true);
  });

  it('refuses writes out of bounds, of odd numbers, and after the end; the session stays usable', async () => {
    engine = await startEngine(box);
    const session = await beginImport('b', MIB, 'thin');
    const bad: Array<[number, number]> = [
      [MIB, 1],
      [MIB - 1, 2],
      [-1, 1],
      [0.5, 1],
      [Number.NaN, 1],
      [Number.MAX_SAFE_INTEGER, 1],
      [2 ** 64, 1],
    ];
    for (const [offset, length] of bad)
      await refused(session.write(offset, pattern(7, length)), 'DISK.OUT_OF_RANGE');
    await refused(session.write(0, 'text' as unknown as Buffer), 'DISK.BAD_REQUEST');
    await refused(
      session.write(0, [pattern(1, 512), 'text' as unknown as Buffer]),
      'DISK.BAD_REQUEST',
    );
    // Parts that together pass the end are refused as one write of their sum.
    await refused(
      session.write(MIB - 1024, [pattern(1, 512), pattern(2, 1024)]),
      'DISK.OUT_OF_RANGE',
    );
    await session.write(MIB - 512, pattern(9, 512));
    await refused(session.spool(oneChunk(Buffer.alloc(1)), 'qcow2'), 'DISK.BAD_REQUEST');
    await session.commit();
    await refused(session.write(0, pattern(1, 1)), 'DISK.BAD_REQUEST');
    await refused(session.abort(), 'DISK.BAD_REQUEST');
    expect(
      (await engine.read({ target: { diskId: 'b' }, offsetBytes: MIB - 512, lengthBytes: 512 }))[0],
    ).toBe(9);
  });

  it('refuses hostile commands before anything: every reason said', async () => {
    engine = await startEngine(box);
    const before = await files();
    const error = await engine
      .beginDiskImport({
        operationId: opId(),
        datastoreId: 'ds1',
        diskId: 'h',
        capacityBytes: MIB,
        format: 'thick' as never,
        expectedDataBytes: -5,
      })
      .catch((e: unknown) => e);
    expect(isDiskEngineError(error, 'DISK.BAD_REQUEST')).toBe(true);
    expect((error as { details: { reasons: string[] } }).details.reasons).toHaveLength(3);
    await refused(beginImport('../x', MIB, 'thin'), 'DISK.BAD_NAME');
    await refused(
      engine.beginDiskImport({
        operationId: opId(),
        datastoreId: 'ds1',
        diskId: 'h',
        capacityBytes: 1000, // not whole sectors
        format: 'thin',
      }),
      'DISK.BAD_REQUEST',
    );
    expect(await files()).toEqual(before);
  });

  it('abort after writes leaves the datastore exactly as before', async () => {
    engine = await startEngine(box);
    await engine.createDisk({
      operationId: opId(),
      datastoreId: 'ds1',
      diskId: 'other',
      capacityBytes: MIB,
      format: 'thin',
    });
    const before = await files();
    const inventory = engine.inventory();
    const session = await beginImport('gone', 8 * MIB, 'thick-eager-zeroed');
    await session.write(0, pattern(5, MIB));
    expect((await files()).length).toBe(before.length + 1); // the temporary image
    await session.abort();
    expect(await files()).toEqual(before);
    expect(engine.inventory()).toEqual(inventory);
    await refused(session.write(0, pattern(5, 512)), 'DISK.BAD_REQUEST');
    await refused(session.commit(), 'DISK.BAD_REQUEST');
    expect((await engine.space('ds1')).reservedBytes).toBe(0);
  });

  it("the caller's signal aborts mid-write: nothing is left", async () => {
    engine = await startEngine(box);
    const before = await files();
    const controller = new AbortController();
    const session = await engine.beginDiskImport(
      {
        operationId: opId(),
        datastoreId: 'ds1',
        diskId: 's',
        capacityBytes: 64 * MIB,
        format: 'thin',
      },
      { signal: controller.signal },
    );
    await session.write(0, pattern(1, MIB));
    const writing = Promise.all(
      Array.from({ length: 16 }, (_, i) => session.write((i + 1) * 2 * MIB, pattern(2, 2 * MIB))),
    ).then(
      () => 'written',
      (e: unknown) => e,
    );
    controller.abort();
    await writing; // written or refused: either way, gone after the abort
    await session.abort(); // already aborted: resolves once nothing is left
    expect(await files()).toEqual(before);
    expect(engine.inventory().disks).toEqual([]);
    await refused(session.commit(), 'DISK.BAD_REQUEST');
  });

  it('refuses a disk the datastore cannot hold before any byte', async () => {
    engine = await startEngine(box, {
      datastores: [{ datastoreId: 'ds1', path: box.datastorePath, capacityBytes: 16 * MIB }],
    });
    const before = await files();
    for (const format of ['thick-lazy-zeroed', 'thick-eager-zeroed', 'thin'] as const)
      await refused(
        engine.beginDiskImport({
          operationId: opId(),
          datastoreId: 'ds1',
          diskId: format,
          capacityBytes: 64 * MIB,
          format,
        }),
        'DISK.NO_SPACE',
      );
    expect(await files()).toEqual(before);
    // A thin disk whose caller expects little fits.
    const session = await engine.beginDiskImport({
      operationId: opId(),
      datastoreId: 'ds1',
      diskId: 'small',
      capacityBytes: 64 * MIB,
      format: 'thin',
      expectedDataBytes: 4 * MIB,
    });
    await session.write(0, pattern(3, MIB));
    await session.commit();
  });
});

async function* chunksOf(file: string): AsyncIterable<Buffer> {
  for await (const chunk of createReadStream(file, { highWaterMark: 64 * 1024 }))
    yield chunk as Buffer;
}

async function* oneChunk(chunk: Buffer): AsyncIterable<Buffer> {
  yield chunk;
}

describe('beginDiskImport: spool', () => {
  it.each(['vmdk', 'qcow2'] as const)(
    'a spooled %s is converted in, and the spool file is gone',
    async (format) => {
      engine = await startEngine(box);
      const before = await files();
      const ref = await reference('ref', 8 * MIB, WRITES);
      const image = join(box.dir, `package-disk.${format}`);
      await run('qemu-img', [
        'convert',
        '-f',
        'qcow2',
        '-O',
        format,
        ...(format === 'vmdk' ? ['-o', 'subformat=streamOptimized'] : []),
        ref,
        image,
      ]);
      const session = await beginImport('spooled', 8 * MIB, 'thick-lazy-zeroed');
      await session.spool(chunksOf(image), format);
      expect(await files()).toHaveLength(before.length + 1); // the converted image, no spool
      await refused(session.write(0, pattern(1, 512)), 'DISK.BAD_REQUEST');
      const result = await session.commit();
      expect(await files()).toEqual([...before, `${result.layerId}.qcow2`].sort());
      expect(await sameContent(ref, { file: diskFile('spooled'), format: 'qcow2' })).toBe(true);
      expect(await qemuImg.allocatedBytes(diskFile('spooled'))).toBeGreaterThanOrEqual(8 * MIB);
    },
  );

  it('refuses a spooled image that stands on or reads another file, or of another size, and commits nothing', async () => {
    engine = await startEngine(box);
    const before = await files();
    const base = await reference('base', 8 * MIB, WRITES);
    const overlay = join(box.dir, 'overlay.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
    const session = await beginImport('x', 8 * MIB, 'thin');
    await refused(session.spool(chunksOf(overlay), 'qcow2'), 'DISK.BACKING_OUTSIDE_DATASTORE');
    await refused(session.commit(), 'DISK.BACKING_OUTSIDE_DATASTORE');
    expect(await files()).toEqual(before);

    // A qcow2 that reads its clusters from another file (a data file) is as foreign.
    const secret = join(box.dir, 'secret.raw');
    await run('qemu-img', ['create', '-q', '-f', 'raw', secret, '8M']);
    const reader = join(box.dir, 'reader.qcow2');
    await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      `data_file=${secret}`,
      reader,
      '8M',
    ]);
    const stealing = await beginImport('w', 8 * MIB, 'thin');
    await refused(stealing.spool(chunksOf(reader), 'qcow2'), 'DISK.BACKING_OUTSIDE_DATASTORE');
    await stealing.abort();

    const other = await beginImport('y', 4 * MIB, 'thin');
    await refused(other.spool(chunksOf(base), 'qcow2'), 'DISK.FORMAT_MISMATCH');
    await other.abort();
    // A raw file said to be a qcow2.
    const third = await beginImport('z', MIB, 'thin');
    await refused(third.spool(oneChunk(pattern(1, MIB)), 'qcow2'), 'DISK.FORMAT_MISMATCH');
    await third.abort();
    expect(await files()).toEqual(before);
    expect(engine.inventory().disks).toEqual([]);
  });

  it('a spool counts against the free space as it grows: refused when it outgrows it, and removed', async () => {
    engine = await startEngine(box, {
      datastores: [{ datastoreId: 'ds1', path: box.datastorePath, capacityBytes: 12 * MIB }],
    });
    const before = await files();
    const big = join(box.dir, 'big.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', big, '64M']);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 7 0 20M', big]);
    const session = await engine.beginDiskImport({
      operationId: opId(),
      datastoreId: 'ds1',
      diskId: 'big',
      capacityBytes: 64 * MIB,
      format: 'thin',
      expectedDataBytes: MIB,
    });
    await refused(session.spool(chunksOf(big), 'qcow2'), 'DISK.NO_SPACE');
    expect(await files()).toHaveLength(before.length); // no spool, no image
    await session.abort();
    expect(await files()).toEqual(before);
    expect((await engine.space('ds1')).reservedBytes).toBe(0);
  });

  it("the caller's signal, or abort, ends a spool under way, a stalled one too", async () => {
    engine = await startEngine(box);
    const before = await files();
    const controller = new AbortController();
    const session = await engine.beginDiskImport(
      {
        operationId: opId(),
        datastoreId: 'ds1',
        diskId: 'sp',
        capacityBytes: 8 * MIB,
        format: 'thin',
      },
      { signal: controller.signal },
    );
    async function* slow(): AsyncIterable<Buffer> {
      yield Buffer.alloc(65536);
      controller.abort();
      yield Buffer.alloc(65536);
    }
    await refused(session.spool(slow(), 'qcow2'), 'DISK.CANCELLED');
    await session.abort();
    expect(await files()).toEqual(before);
    // A producer that stalls does not hold the abort up.
    const stalled = await beginImport('st', 8 * MIB, 'thin');
    async function* stalls(): AsyncIterable<Buffer> {
      yield Buffer.alloc(65536);
      await new Promise(() => undefined);
    }
    const spooling = refused(stalled.spool(stalls(), 'qcow2'), 'DISK.CANCELLED');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await stalled.abort();
    await spooling;
    expect(await files()).toEqual(before);
  });
});

describe('stageExport', () => {
  async function diskWithData(diskId: string) {
    await engine.createDisk({
      operationId: opId(),
      datastoreId: 'ds1',
      diskId,
      capacityBytes: 8 * MIB,
      format: 'thin',
    });
    for (const [offset, byte, length] of WRITES)
      await engine.write({ diskId, offsetBytes: offset, data: pattern(byte, length) });
  }

  it('stages streamOptimized VMDKs that read back as the disks, with their digests; release removes them', async () => {
    engine = await startEngine(box);
    await diskWithData('a');
    await diskWithData('b');
    const snapshot = await engine.snapshot({ operationId: opId(), diskId: 'b' });
    await engine.write({ diskId: 'b', offsetBytes: 0, data: pattern(0x77, 4096) }); // after it
    const before = await files();
    const progress: OperationProgress[] = [];
    const staged = await engine.stageExport(
      {
        operationId: opId(),
        datastoreId: 'ds1',
        disks: [
          { diskId: 'a', layerId: null },
          { diskId: 'b', layerId: snapshot.frozenLayerId },
        ],
      },
      { onProgress: (p) => progress.push(p) },
    );
    expect(staged.files.map((f) => f.diskId)).toEqual(['a', 'b']);
    const ref = await reference('ref', 8 * MIB, WRITES);
    for (const file of staged.files) {
      expect(file.path.startsWith(box.datastorePath)).toBe(true);
      const info = await qemuImg.info(file.path, 'vmdk');
      expect(info.vmdkCreateType).toBe('streamOptimized');
      expect(await sameContent(ref, { file: file.path, format: 'vmdk' })).toBe(true);
      const bytes = await readFile(file.path);
      expect(file.sizeBytes).toBe(bytes.length);
      expect(file.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      const { stdout } = await run('sha256sum', [file.path]);
      expect(stdout.split(' ')[0]).toBe(file.sha256);
    }
    // Disk a as it is now: the VMDK is its top.
    expect(
      await qemuImg.compare(
        { file: diskFile('a'), format: 'qcow2' },
        { file: staged.files[0].path, format: 'vmdk' },
      ),
    ).toBe(true);
    expect(progress.some((p) => p.phase === 'export')).toBe(true);
    // Held: a disk being exported cannot be deleted meanwhile.
    await refused(engine.deleteDisk({ operationId: opId(), diskId: 'a' }), 'DISK.BUSY');
    await staged.release();
    expect(await files()).toEqual(before);
    await engine.deleteDisk({ operationId: opId(), diskId: 'a' });
  });

  it("digests each consecutive range in the same read: split -b and sha256sum's digests", async () => {
    engine = await startEngine(box);
    await diskWithData('a');
    await diskWithData('small');
    // Incompressible: the VMDK spans many ranges, none aligned with the 1 MiB reads.
    await engine.write({ diskId: 'a', offsetBytes: MIB, data: randomBytes(4 * MIB) });
    const rangeBytes = 150_000;
    type Digests = { digestRangeBytes: number; digestRangesOverBytes?: number };
    const stage = (digests: Digests, diskIds = ['a', 'small']) =>
      engine.stageExport({
        operationId: opId(),
        datastoreId: 'ds1',
        disks: diskIds.map((diskId) => ({ diskId, layerId: null })),
        ...digests,
      });
    const sha256sum = async (path: string) => (await run('sha256sum', [path])).stdout.split(' ')[0];
    const staged = await stage({ digestRangeBytes: rangeBytes });
    const [big, small] = staged.files;
    try {
      expect(big.sizeBytes).toBeGreaterThan(20 * rangeBytes);
      const pieces = join(box.dir, 'pieces');
      await run('mkdir', [pieces]);
      await run('split', ['-b', String(rangeBytes), '-d', '-a', '9', big.path, `${pieces}/a.`]);
      const { stdout } = await run('sh', ['-c', `sha256sum '${pieces}'/a.*`]);
      const sums = stdout.trim().split('\n');
      expect(sums).toHaveLength(Math.ceil(big.sizeBytes / rangeBytes));
      expect(big.rangeSha256).toEqual(sums.map((line) => line.split(' ')[0]));
      expect(big.sha256).toBe(await sha256sum(big.path));
      // A file within one range: that range is the whole file.
      expect(small.sizeBytes).toBeLessThan(rangeBytes);
      expect(small.rangeSha256).toEqual([small.sha256]);
    } finally {
      await staged.release();
    }

    // Ranges only of the files over a limit: the small one is hashed whole, once.
    const overLimit = await stage({
      digestRangeBytes: rangeBytes,
      digestRangesOverBytes: rangeBytes,
    });
    try {
      // Staged again, a VMDK has a new content id in its header: its digests are its own.
      const [bigAgain, smallAgain] = overLimit.files;
      expect(bigAgain.rangeSha256).toHaveLength(Math.ceil(bigAgain.sizeBytes / rangeBytes));
      expect(smallAgain.rangeSha256).toBeUndefined();
      expect(smallAgain.sha256).toBe(await sha256sum(smallAgain.path));
    } finally {
      await overLimit.release();
    }

    for (const [digests, reason] of [
      [{ digestRangeBytes: 0 }, /digestRangeBytes 0/],
      [{ digestRangeBytes: rangeBytes, digestRangesOverBytes: -1 }, /digestRangesOverBytes -1/],
    ] as const) {
      const refused = await stage(digests, ['a']).catch((e: unknown) => e);
      expect(isDiskEngineError(refused, 'DISK.BAD_REQUEST')).toBe(true);
      expect((refused as Error).message).toMatch(reason);
    }
  });

  it('refuses a disk open writable (DISK.IN_USE), yet stages its snapshot', async () => {
    engine = await startEngine(box);
    await diskWithData('live');
    const before = await files();
    await engine.openLive({ operationId: opId(), target: { diskId: 'live' } });
    await refused(
      engine.stageExport({
        operationId: opId(),
        datastoreId: 'ds1',
        disks: [{ diskId: 'live', layerId: null }],
      }),
      'DISK.IN_USE',
    );
    expect(await files()).toEqual(before);
    const snapshot = await engine.snapshot({ operationId: opId(), diskId: 'live' });
    const staged = await engine.stageExport({
      operationId: opId(),
      datastoreId: 'ds1',
      disks: [{ diskId: 'live', layerId: snapshot.frozenLayerId }],
    });
    expect(
      await sameContent(await reference('ref', 8 * MIB, WRITES), {
        file: staged.files[0].path,
        format: 'vmdk',
      }),
    ).toBe(true);
    await staged.release();
    await engine.closeLive({ operationId: opId(), target: { diskId: 'live' } });
  });

  it('refuses hostile lists with every reason, and layers outside the disk', async () => {
    engine = await startEngine(box);
    await diskWithData('a');
    const error = await engine
      .stageExport({
        operationId: opId(),
        datastoreId: 'ds1',
        disks: [
          { diskId: 'a', layerId: null },
          { diskId: 'a', layerId: null },
          { diskId: '../etc', layerId: '/x' },
        ],
      })
      .catch((e: unknown) => e);
    expect(isDiskEngineError(error, 'DISK.BAD_REQUEST')).toBe(true);
    expect((error as { details: { reasons: string[] } }).details.reasons).toHaveLength(3);
    await refused(
      engine.stageExport({ operationId: opId(), datastoreId: 'ds1', disks: [] }),
      'DISK.BAD_REQUEST',
    );
    await diskWithData('c');
    const other = await engine.snapshot({ operationId: opId(), diskId: 'c' });
    await refused(
      engine.stageExport({
        operationId: opId(),
        datastoreId: 'ds1',
        disks: [{ diskId: 'a', layerId: other.frozenLayerId }],
      }),
      'DISK.NOT_IN_CHAIN',
    );
  });

  it("the caller's signal removes everything, staged or being staged", async () => {
    engine = await startEngine(box);
    await diskWithData('a');
    const before = await files();
    const controller = new AbortController();
    const staged = await engine.stageExport(
      { operationId: opId(), datastoreId: 'ds1', disks: [{ diskId: 'a', layerId: null }] },
      { signal: controller.signal },
    );
    expect(await files()).toHaveLength(before.length + 1); // the staging folder
    controller.abort();
    await staged.release(); // resolves once it is gone
    expect(await files()).toEqual(before);
    const early = new AbortController();
    early.abort();
    await refused(
      engine.stageExport(
        { operationId: opId(), datastoreId: 'ds1', disks: [{ diskId: 'a', layerId: null }] },
        { signal: early.signal },
      ),
      'DISK.CANCELLED',
    );
    expect(await files()).toEqual(before);
  });
});

describe('a crash with both held open', () => {
  let worker: WorkerProcess | undefined;
  afterEach(async () => {
    await worker?.killWithDaemon().catch(() => undefined);
  });

  it('leaves nothing that the next start does not clean; the import runs again under its id', async () => {
    worker = await WorkerProcess.start(box.config());
    await worker.call('createDisk', {
      operationId: 'create',
      datastoreId: 'ds1',
      diskId: 'a',
      format: 'thin',
      capacityBytes: 8 * MIB,
    });
    const before = await files();
    const importCommand = {
      operationId: 'import-1',
      datastoreId: 'ds1',
      diskId: 'imported',
      capacityBytes: 8 * MIB,
      format: 'thick-eager-zeroed',
    };
    await worker.call('beginDiskImport', { ...importCommand, writes: [[0, 9, MIB]] });
    const staged = (await worker.call('stageExport', {
      operationId: 'export-1',
      datastoreId: 'ds1',
      disks: [{ diskId: 'a', layerId: null }],
    })) as { files: { path: string }[] };
    // Under way: the import's temporary image and the export's folder, with its VMDK.
    expect(await files()).toHaveLength(before.length + 2);
    await expect(qemuImg.info(staged.files[0].path, 'vmdk')).resolves.toMatchObject({
      vmdkCreateType: 'streamOptimized',
    });
    await worker.killWithDaemon();
    worker = undefined;

    const { engine: restarted, report } = await Engine.start(box.config());
    engine = restarted;
    expect(await files()).toEqual(before);
    expect(engine.inventory().disks.map((d) => d.diskId)).toEqual(['a']);
    expect(report.check.findings.map((f) => [f.kind, f.subject, f.action]).sort()).toEqual(
      [
        ['unfinished-operation', 'export-1', 'rolled-back'],
        ['unfinished-operation', 'import-1', 'rolled-back'],
      ].sort(),
    );
    const session = await engine.beginDiskImport(importCommand as ImportDiskStream);
    await session.write(0, pattern(9, MIB));
    await session.commit();
    expect(
      await sameContent(await reference('ref', 8 * MIB, [[0, 9, MIB]]), {
        file: diskFile('imported'),
        format: 'qcow2',
      }),
    ).toBe(true);
  });
});
