import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './process';
import * as qemuImg from './qemu-img';
import { MIB, type Sandbox, sandbox } from '../testing/fixtures';

jest.setTimeout(60_000);

const CLUSTER = 65536;
let box: Sandbox;
let dir: string;
beforeEach(async () => {
  box = await sandbox('qemu-img');
  dir = box.datastorePath;
});
afterEach(() => box.cleanup());

const qemuIo = (file: string, format: string, command: string) =>
  run('qemu-io', ['-f', format, '-c', command, file]);

describe('formats with their real costs', () => {
  const capacityBytes = 64 * MIB;

  it('thin takes space on first write; thick lazy reserves without writing; thick eager writes every byte', async () => {
    const made: Record<string, { allocated: number; written: number; info: qemuImg.ImageInfo }> =
      {};
    for (const format of ['thin', 'thick-lazy-zeroed', 'thick-eager-zeroed'] as const) {
      const file = join(dir, `${format}.qcow2`);
      await qemuImg.create({ file, capacityBytes, clusterSizeBytes: CLUSTER, format });
      made[format] = {
        allocated: await qemuImg.allocatedBytes(file),
        written: await qemuImg.writtenFileBytes(file),
        info: await qemuImg.info(file, 'qcow2'),
      };
    }
    // qemu-img info: the same virtual disk, very different files.
    for (const m of Object.values(made))
      expect(m.info).toMatchObject({ format: 'qcow2', virtualSizeBytes: capacityBytes });
    expect(made.thin.info.actualSizeBytes).toBeLessThan(1 * MIB);
    expect(made['thick-lazy-zeroed'].info.actualSizeBytes).toBeGreaterThanOrEqual(capacityBytes);
    expect(made['thick-eager-zeroed'].info.actualSizeBytes).toBeGreaterThanOrEqual(capacityBytes);
    // The file system: thin holds only metadata; both thick ones hold the full capacity...
    expect(made.thin.allocated).toBeLessThan(1 * MIB);
    expect(made['thick-lazy-zeroed'].allocated).toBeGreaterThanOrEqual(capacityBytes);
    expect(made['thick-eager-zeroed'].allocated).toBeGreaterThanOrEqual(capacityBytes);
    // ...but only eager-zeroed wrote it: lazy's extents are reserved, unwritten.
    expect(made['thick-lazy-zeroed'].written).toBeLessThan(1 * MIB);
    expect(made['thick-eager-zeroed'].written).toBeGreaterThanOrEqual(capacityBytes);
  });

  it('every format reads zeros before any write', async () => {
    for (const format of ['thin', 'thick-lazy-zeroed', 'thick-eager-zeroed'] as const) {
      const file = join(dir, `${format}.qcow2`);
      await qemuImg.create({ file, capacityBytes: 4 * MIB, clusterSizeBytes: CLUSTER, format });
      await expect(qemuIo(file, 'qcow2', `read -P 0 0 ${4 * MIB}`)).resolves.toMatchObject({
        exitCode: 0,
      });
    }
  });

  it('reports eager zeroing progress from the kernel I/O counters, ending at the capacity', async () => {
    const seen: number[] = [];
    await qemuImg.create({
      file: join(dir, 'eager.qcow2'),
      capacityBytes: 256 * MIB,
      clusterSizeBytes: CLUSTER,
      format: 'thick-eager-zeroed',
      ioProgress: {
        counter: 'wchar',
        totalBytes: 256 * MIB,
        intervalMs: 5,
        onProgress: (done) => seen.push(done),
      },
    });
    expect(seen.at(-1)).toBe(256 * MIB);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
  });
});

describe('chains', () => {
  async function chain() {
    const base = join(dir, 'base.qcow2');
    const top = join(dir, 'top.qcow2');
    await qemuImg.create({
      file: base,
      capacityBytes: 8 * MIB,
      clusterSizeBytes: CLUSTER,
      format: 'thin',
    });
    await qemuIo(base, 'qcow2', 'write -P 0x11 0 128k');
    await qemuImg.create({
      file: top,
      capacityBytes: 8 * MIB,
      clusterSizeBytes: CLUSTER,
      format: 'thin',
      backingFileName: 'base.qcow2',
    });
    await qemuIo(top, 'qcow2', 'write -P 0x22 64k 64k');
    return { base, top };
  }

  it('info and the backing chain keep the relative backing name', async () => {
    const { top } = await chain();
    const images = await qemuImg.backingChain(top);
    expect(images.map((i) => i.backingFileName)).toEqual(['base.qcow2', null]);
    expect(images[0].backingFormat).toBe('qcow2');
  });

  it('map says which layer of the chain holds each extent', async () => {
    const { top } = await chain();
    const extents = await qemuImg.map(top, 'qcow2');
    expect(extents.filter((e) => e.depth !== null)).toEqual([
      { startBytes: 0, lengthBytes: 64 * 1024, depth: 1, zero: false },
      { startBytes: 64 * 1024, lengthBytes: 64 * 1024, depth: 0, zero: false },
    ]);
  });

  it('measure: a thin copy needs what is allocated, a thick one the whole capacity', async () => {
    const { top } = await chain();
    const thin = await qemuImg.measure(
      { format: 'thin', clusterSizeBytes: CLUSTER },
      { file: top, format: 'qcow2' },
    );
    expect(thin.requiredBytes).toBeLessThan(1 * MIB);
    expect(thin.fullyAllocatedBytes).toBeGreaterThan(8 * MIB);
  });

  it('commit, rebase and convert keep what the chain reads; compare tells same from different', async () => {
    const { base, top } = await chain();
    const flat = join(dir, 'flat.qcow2');
    await qemuImg.convert({
      source: { file: top, format: 'qcow2' },
      target: { file: flat, format: 'qcow2', provisioning: 'thin', clusterSizeBytes: CLUSTER },
    });
    expect((await qemuImg.info(flat, 'qcow2')).backingFileName).toBeNull();
    expect(
      await qemuImg.compare({ file: top, format: 'qcow2' }, { file: flat, format: 'qcow2' }),
    ).toBe(true);
    expect(
      await qemuImg.compare({ file: base, format: 'qcow2' }, { file: flat, format: 'qcow2' }),
    ).toBe(false);

    await qemuImg.rebase(top, null, { cwd: dir });
    expect((await qemuImg.info(top, 'qcow2')).backingFileName).toBeNull();
    expect(
      await qemuImg.compare({ file: top, format: 'qcow2' }, { file: flat, format: 'qcow2' }),
    ).toBe(true);

    const { top: top2, base: base2 } = await chain();
    await qemuImg.commit(top2, { cwd: dir });
    expect(
      await qemuImg.compare({ file: base2, format: 'qcow2' }, { file: flat, format: 'qcow2' }),
    ).toBe(true);
  });

  it('check reports a clean image as clean', async () => {
    const { top } = await chain();
    await expect(qemuImg.check(top)).resolves.toMatchObject({
      corruptions: 0,
      leaks: 0,
      exitCode: 0,
    });
  });
});

describe('import and export formats', () => {
  it('converts raw, qcow2 and both VMDK subformats to qcow2 and back to streamOptimized VMDK', async () => {
    const raw = join(dir, 'src.raw');
    await writeFile(raw, Buffer.alloc(2 * MIB, 0x5a));
    const reference = { file: raw, format: 'raw' as const };
    const sparse = join(dir, 'sparse.vmdk');
    const stream = join(dir, 'stream.vmdk');
    await qemuImg.convert({
      source: reference,
      target: { file: sparse, format: 'vmdk', subformat: 'monolithicSparse' },
    });
    await qemuImg.convert({
      source: reference,
      target: { file: stream, format: 'vmdk', subformat: 'streamOptimized' },
    });
    expect((await qemuImg.info(sparse, 'vmdk')).vmdkCreateType).toBe('monolithicSparse');
    expect((await qemuImg.info(stream, 'vmdk')).vmdkCreateType).toBe('streamOptimized');
    for (const [i, source] of [
      reference,
      { file: sparse, format: 'vmdk' as const },
      { file: stream, format: 'vmdk' as const },
    ].entries()) {
      const out = join(dir, `imported-${i}.qcow2`);
      await qemuImg.convert({
        source,
        target: { file: out, format: 'qcow2', provisioning: 'thin', clusterSizeBytes: CLUSTER },
      });
      expect(await qemuImg.compare({ file: out, format: 'qcow2' }, reference)).toBe(true);
    }
  });

  it('probing tells a qcow2 from a raw file whatever its name says', async () => {
    const lying = join(dir, 'disk.raw');
    await qemuImg.create({
      file: lying,
      capacityBytes: MIB,
      clusterSizeBytes: CLUSTER,
      format: 'thin',
    });
    expect((await qemuImg.info(lying, undefined)).format).toBe('qcow2');
    await expect(qemuImg.info(join(dir, 'nope.qcow2'), 'qcow2')).rejects.toMatchObject({
      code: 'DISK.QEMU_FAILED',
    });
  });

  it('a cancelled convert is killed and reported as cancelled', async () => {
    const big = join(dir, 'big.qcow2');
    await qemuImg.create({
      file: big,
      capacityBytes: 512 * MIB,
      clusterSizeBytes: CLUSTER,
      format: 'thick-eager-zeroed',
    });
    const controller = new AbortController();
    const converting = qemuImg.convert({
      source: { file: big, format: 'qcow2' },
      target: {
        file: join(dir, 'copy.qcow2'),
        format: 'qcow2',
        provisioning: 'thick-eager-zeroed',
        clusterSizeBytes: CLUSTER,
      },
      signal: controller.signal,
    });
    controller.abort();
    await expect(converting).rejects.toMatchObject({ code: 'DISK.CANCELLED' });
  });
});
