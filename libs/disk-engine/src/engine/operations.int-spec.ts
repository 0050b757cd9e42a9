/**
 * The engine's offline operations against real qemu-img and qemu-storage-daemon, each test on a
 * datastore folder of its own.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DiskErrorCode, isDiskEngineError } from '../errors';
import { run } from '../qemu/process';
import * as qemuImg from '../qemu/qemu-img';
import { MIB, type Sandbox, opId, pattern, sandbox, startEngine } from '../testing/fixtures';
import { type QemuDiskEngine } from './qemu-disk-engine';

jest.setTimeout(120_000);

let box: Sandbox;
let engine: QemuDiskEngine;
beforeEach(async () => {
  box = await sandbox('ops');
});
afterEach(async () => {
  await engine?.stop().catch(() => undefined);
  await box.cleanup();
});

const files = async () => (await readdir(box.datastorePath)).filter((n) => n !== '.dolly').sort();
const fileOf = (layerId: string) => join(box.datastorePath, `${layerId}.qcow2`);
const qcow2 = (layerId: string) => ({ file: fileOf(layerId), format: 'qcow2' as const });
const topOf = (diskId: string) =>
  engine.inventory().disks.find((d) => d.diskId === diskId)!.topLayerId;

async function refused(promise: Promise<unknown>, code: DiskErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isDiskEngineError(error, code)) throw new Error(`expected ${code}, got ${String(error)}`);
}

async function diskWith(
  diskId: string,
  writes: Array<[offset: number, byte: number]>,
  capacityBytes = 8 * MIB,
) {
  await engine.createDisk({
    operationId: opId(),
    datastoreId: 'ds1',
    diskId,
    format: 'thin',
    capacityBytes,
  });
  for (const [offset, byte] of writes)
    await engine.write({ diskId, offsetBytes: offset, data: pattern(byte, 65536) });
}

/** A standalone copy of what a layer reads now, to compare with later. */
async function copyOf(layerId: string, name: string): Promise<{ file: string; format: 'qcow2' }> {
  const file = join(box.dir, `${name}.qcow2`);
  await qemuImg.convert({
    source: qcow2(layerId),
    target: { file, format: 'qcow2', provisioning: 'thin', clusterSizeBytes: 65536 },
  });
  return { file, format: 'qcow2' };
}

const byteAt = async (diskId: string, offset: number) =>
  (await engine.read({ target: { diskId }, offsetBytes: offset, lengthBytes: 1 }))[0];

describe('create', () => {
  it('makes each format with its cost, and reports progress while zeroing eagerly', async () => {
    engine = await startEngine(box);
    const progress: number[] = [];
    const made = [];
    for (const format of ['thin', 'thick-lazy-zeroed', 'thick-eager-zeroed'] as const) {
      made.push(
        await engine.createDisk(
          {
            operationId: opId(),
            datastoreId: 'ds1',
            diskId: format,
            format,
            capacityBytes: 128 * MIB,
          },
          { onProgress: (p) => progress.push(p.doneBytes) },
        ),
      );
    }
    expect(made[0].allocatedBytes).toBeLessThan(MIB);
    expect(made[1].allocatedBytes).toBeGreaterThanOrEqual(128 * MIB);
    expect(made[2].allocatedBytes).toBeGreaterThanOrEqual(128 * MIB);
    expect(progress.at(-1)).toBe(128 * MIB);
    expect((await engine.space('ds1')).provisionedBytes).toBe(3 * 128 * MIB);
  });

  it('refuses what the datastore cannot hold, before writing anything', async () => {
    engine = await startEngine(box, {
      datastores: [{ datastoreId: 'ds1', path: box.datastorePath, capacityBytes: 48 * MIB }],
    });
    await diskWith('small', [[0, 1]], 64 * MIB);
    const before = await files();
    await refused(
      engine.createDisk({
        operationId: opId(),
        datastoreId: 'ds1',
        diskId: 'big',
        format: 'thick-lazy-zeroed',
        capacityBytes: 64 * MIB,
      }),
      'DISK.NO_SPACE',
    );
    await refused(
      engine.fullClone({
        operationId: opId(),
        source: { diskId: 'small' },
        diskId: 'copy',
        datastoreId: 'ds1',
        format: 'thick-eager-zeroed',
      }),
      'DISK.NO_SPACE',
    );
    expect(await files()).toEqual(before);
    // A thin copy of the same disk fits: only what is written counts.
    await engine.fullClone({
      operationId: opId(),
      source: { diskId: 'small' },
      diskId: 'copy',
      datastoreId: 'ds1',
      format: 'thin',
    });
  });
});

describe('snapshots and linked clones', () => {
  it('isolate: writes to a clone never show in its base or its siblings', async () => {
    engine = await startEngine(box);
    await diskWith('golden', [
      [0, 0x11],
      [MIB, 0x12],
    ]);
    const { frozenLayerId } = await engine.snapshot({ operationId: opId(), diskId: 'golden' });
    const baseCopy = await copyOf(frozenLayerId, 'base-before');
    for (const id of ['c1', 'c2', 'c3'])
      await engine.linkedClone({
        operationId: opId(),
        source: { layerId: frozenLayerId },
        diskId: id,
      });
    await engine.write({ diskId: 'c1', offsetBytes: 0, data: pattern(0xc1, 65536) });
    await engine.write({ diskId: 'c2', offsetBytes: 2 * MIB, data: pattern(0xc2, 65536) });
    await engine.write({ diskId: 'golden', offsetBytes: MIB, data: pattern(0x99, 65536) });

    expect(await qemuImg.compare(qcow2(frozenLayerId), baseCopy)).toBe(true);
    expect(await qemuImg.compare(qcow2(topOf('c3')), qcow2(frozenLayerId))).toBe(true);
    expect(await qemuImg.compare(qcow2(topOf('c1')), qcow2(frozenLayerId))).toBe(false);
    expect(await qemuImg.compare(qcow2(topOf('c1')), qcow2(topOf('c2')))).toBe(false);
    expect([await byteAt('c1', 0), await byteAt('c2', 0), await byteAt('c3', 0)]).toEqual([
      0xc1, 0x11, 0x11,
    ]);
    expect([await byteAt('c1', MIB), await byteAt('golden', MIB)]).toEqual([0x12, 0x99]);
  });

  it('a linked clone reads byte for byte as bare qemu-img create -b writes it, and takes no more space', async () => {
    engine = await startEngine(box);
    await diskWith('golden', [[0, 1]], 1024 * MIB);
    const { frozenLayerId } = await engine.snapshot({ operationId: opId(), diskId: 'golden' });
    const clone = await engine.linkedClone({
      operationId: opId(),
      source: { layerId: frozenLayerId },
      diskId: 'c1',
    });
    const bare = join(box.datastorePath, 'bare.qcow2');
    const { capacityBytes, clusterSizeBytes } = engine
      .inventory()
      .layers.find((l) => l.layerId === frozenLayerId)!;
    await qemuImg.create({
      file: bare,
      capacityBytes,
      clusterSizeBytes,
      format: 'thin',
      backingFileName: `${frozenLayerId}.qcow2`,
    });
    // The same file content (the engine leaves the runs of zeros as holes).
    expect((await readFile(fileOf(clone.layerId))).equals(await readFile(bare))).toBe(true);
    expect(clone.allocatedBytes).toBeLessThanOrEqual(await qemuImg.allocatedBytes(bare));
    expect(clone.allocatedBytes).toBeLessThanOrEqual(256 * 1024);
  });

  it('refuses a linked clone of a writable layer or onto another datastore', async () => {
    engine = await startEngine(box);
    await diskWith('vm', [[0, 1]]);
    await refused(
      engine.linkedClone({ operationId: opId(), source: { diskId: 'vm' }, diskId: 'c' }),
      'DISK.NOT_FROZEN',
    );
    const { frozenLayerId } = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    await refused(
      engine.linkedClone({
        operationId: opId(),
        source: { layerId: frozenLayerId },
        diskId: 'c',
        datastoreId: 'ds2',
      }),
      'DISK.BACKING_OUTSIDE_DATASTORE',
    );
  });
});

describe('full clones', () => {
  it('flatten a chain into an independent disk in each format, reading the same', async () => {
    engine = await startEngine(box);
    await diskWith(
      'vm',
      [
        [0, 1],
        [3 * MIB, 2],
      ],
      16 * MIB,
    );
    await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    await engine.write({ diskId: 'vm', offsetBytes: 5 * MIB, data: pattern(3, 65536) });
    const sizes: Record<string, number> = {};
    for (const format of ['same', 'thin', 'thick-lazy-zeroed', 'thick-eager-zeroed'] as const) {
      const clone = await engine.fullClone({
        operationId: opId(),
        source: { diskId: 'vm' },
        diskId: `copy-${format}`,
        datastoreId: 'ds1',
        format,
      });
      sizes[format] = clone.allocatedBytes;
      expect(await qemuImg.compare(qcow2(clone.layerId), qcow2(topOf('vm')))).toBe(true);
      expect((await qemuImg.info(fileOf(clone.layerId), 'qcow2')).backingFileName).toBeNull();
    }
    expect(sizes.same).toBe(sizes.thin);
    expect(sizes.thin).toBeLessThan(MIB);
    expect(sizes['thick-lazy-zeroed']).toBeGreaterThanOrEqual(16 * MIB);
    expect(sizes['thick-eager-zeroed']).toBeGreaterThanOrEqual(16 * MIB);
    // A copy is independent: deleting its source changes nothing in it.
    await engine.deleteDisk({ operationId: opId(), diskId: 'vm' });
    expect(await byteAt('copy-thin', 5 * MIB)).toBe(3);
  });

  it('a cancelled full clone leaves no file and no disk behind', async () => {
    engine = await startEngine(box);
    await diskWith('vm', [[0, 1]]);
    const before = await files();
    const controller = new AbortController();
    controller.abort();
    await refused(
      engine.fullClone(
        {
          operationId: opId(),
          source: { diskId: 'vm' },
          diskId: 'copy',
          datastoreId: 'ds1',
          format: 'thin',
        },
        { signal: controller.signal },
      ),
      'DISK.CANCELLED',
    );
    expect(await files()).toEqual(before);
    expect(engine.inventory().disks.map((d) => d.diskId)).toEqual(['vm']);
  });
});

describe('consolidate and materialise', () => {
  it('consolidate merges the layer below into the top, reading the same, one layer shorter', async () => {
    engine = await startEngine(box);
    await diskWith('vm', [
      [0, 1],
      [MIB, 1],
    ]);
    const { frozenLayerId } = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    await engine.write({ diskId: 'vm', offsetBytes: MIB, data: pattern(2, 65536) });
    const before = await copyOf(topOf('vm'), 'before');
    const result = await engine.consolidate({ operationId: opId(), target: { diskId: 'vm' } });
    expect(result.events.map((e) => e.type)).toEqual(['LayerMerged']);
    expect(await qemuImg.compare(qcow2(topOf('vm')), before)).toBe(true);
    expect(await files()).not.toContain(`${frozenLayerId}.qcow2`);
    expect((await engine.space('ds1')).disks[0].chainDepth).toBe(1);
    await expect(engine.check({ operationId: opId(), repair: false })).resolves.toMatchObject({
      clean: true,
    });
  });

  it('consolidate is refused while a linked clone stands on the layer below', async () => {
    engine = await startEngine(box);
    await diskWith('vm', [[0, 1]]);
    const { frozenLayerId } = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    await engine.linkedClone({
      operationId: opId(),
      source: { layerId: frozenLayerId },
      diskId: 'c',
    });
    await refused(
      engine.consolidate({ operationId: opId(), target: { diskId: 'vm' } }),
      'DISK.LAYER_SHARED',
    );
  });

  it('materialise copies into clones what they read from a parent layer, which goes with its last user', async () => {
    engine = await startEngine(box);
    await diskWith('replica', [
      [0, 0x10],
      [MIB, 0x10],
    ]);
    const replica = await engine.snapshot({ operationId: opId(), diskId: 'replica' });
    await engine.linkedClone({
      operationId: opId(),
      source: { layerId: replica.frozenLayerId },
      diskId: 'parent',
    });
    await engine.write({ diskId: 'parent', offsetBytes: MIB, data: pattern(0x20, 65536) });
    const parent = await engine.snapshot({ operationId: opId(), diskId: 'parent' });
    for (const id of ['ic1', 'ic2'])
      await engine.linkedClone({
        operationId: opId(),
        source: { layerId: parent.frozenLayerId },
        diskId: id,
      });
    await engine.write({ diskId: 'ic1', offsetBytes: 0, data: pattern(0x31, 65536) });
    await engine.deleteDisk({ operationId: opId(), diskId: 'parent' });
    expect(await files()).toContain(`${parent.frozenLayerId}.qcow2`);

    const first = await engine.materialise({
      operationId: opId(),
      target: { diskId: 'ic1' },
      releaseLayerId: parent.frozenLayerId,
    });
    expect(first.events.map((e) => e.type)).toEqual(['LayerRebased']);
    const second = await engine.materialise({
      operationId: opId(),
      target: { diskId: 'ic2' },
      releaseLayerId: parent.frozenLayerId,
    });
    expect(second.events.map((e) => e.type)).toEqual(['LayerRebased', 'LayerReclaimed']);
    expect(await files()).not.toContain(`${parent.frozenLayerId}.qcow2`);
    expect([
      await byteAt('ic1', 0),
      await byteAt('ic1', MIB),
      await byteAt('ic2', 0),
      await byteAt('ic2', MIB),
    ]).toEqual([0x31, 0x20, 0x10, 0x20]);
    const map = await engine.blockMap({ target: { diskId: 'ic2' } });
    expect(map.bytesPerLayer.map((b) => b.layerId)).toEqual([topOf('ic2'), replica.frozenLayerId]);
  });
});

describe('delete with reference counts', () => {
  it('keeps a template base while linked clones stand on it, and reclaims it after the last', async () => {
    engine = await startEngine(box);
    await diskWith('tpl', [[0, 1]]);
    await engine.freeze({ operationId: opId(), diskId: 'tpl' });
    const base = topOf('tpl');
    await engine.linkedClone({ operationId: opId(), source: { diskId: 'tpl' }, diskId: 'c1' });
    await engine.linkedClone({ operationId: opId(), source: { diskId: 'tpl' }, diskId: 'c2' });
    await engine.deleteDisk({ operationId: opId(), diskId: 'tpl' });
    await engine.deleteDisk({ operationId: opId(), diskId: 'c1' });
    expect(await files()).toContain(`${base}.qcow2`);
    expect(await byteAt('c2', 0)).toBe(1);
    const last = await engine.deleteDisk({ operationId: opId(), diskId: 'c2' });
    expect(last.events.map((e) => e.type)).toEqual([
      'DiskDeleted',
      'LayerReclaimed',
      'LayerReclaimed',
    ]);
    expect(await files()).toEqual([]);
    await expect(engine.check({ operationId: opId(), repair: false })).resolves.toMatchObject({
      clean: true,
    });
  });
});

describe('revert', () => {
  it('makes a disk read as at its snapshot again, and lets what it wrote since go', async () => {
    engine = await startEngine(box);
    await diskWith('vm', [[0, 1]]);
    const snapshot = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    await engine.write({ diskId: 'vm', offsetBytes: 0, data: pattern(2, 65536) });
    await engine.write({ diskId: 'vm', offsetBytes: 65536, data: pattern(3, 65536) });
    expect(await byteAt('vm', 0)).toBe(2);

    const reverted = await engine.revert({
      operationId: opId(),
      diskId: 'vm',
      layerId: snapshot.frozenLayerId,
    });
    expect(reverted.layerId).toBe(topOf('vm'));
    expect(await byteAt('vm', 0)).toBe(1);
    expect(await byteAt('vm', 65536)).toBe(0);
    expect(await files()).not.toContain(`${snapshot.topLayerId}.qcow2`);
    expect(reverted.events.map((e) => e.type)).toEqual([
      'LayerCreated',
      'DiskTopMoved',
      'LayerReclaimed',
    ]);
    await refused(
      engine.revert({ operationId: opId(), diskId: 'vm', layerId: reverted.layerId }),
      'DISK.NOT_FROZEN',
    );
    await expect(engine.check({ operationId: opId(), repair: false })).resolves.toMatchObject({
      clean: true,
    });
  });
});

describe('chain-depth policy', () => {
  it('past the maximum depth, consolidates layers nobody else uses, and says so', async () => {
    engine = await startEngine(box, { maxChainDepth: 3 });
    await diskWith('vm', [[0, 1]]);
    for (let i = 2; i <= 6; i++) {
      const result = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
      await engine.write({ diskId: 'vm', offsetBytes: i * 65536, data: pattern(i, 65536) });
      // The top stands at depth i - 1 before the snapshot; past 3 - 1 the policy acts first.
      if (i >= 4) expect(result.events.map((e) => e.type)).toContain('ChainDepthPolicyApplied');
      expect((await engine.space('ds1')).disks[0].chainDepth).toBeLessThanOrEqual(3);
    }
    for (let i = 2; i <= 6; i++) expect(await byteAt('vm', i * 65536)).toBe(i);
    expect(await byteAt('vm', 0)).toBe(1);
  });

  it('flattens when every layer below is shared', async () => {
    engine = await startEngine(box, { maxChainDepth: 2 });
    await diskWith('vm', [[0, 1]]);
    const s1 = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    await engine.linkedClone({
      operationId: opId(),
      source: { layerId: s1.frozenLayerId },
      diskId: 'keep-s1',
    });
    await engine.write({ diskId: 'vm', offsetBytes: 65536, data: pattern(2, 65536) });
    const s2 = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    const flattened = s2.events.find((e) => e.type === 'ChainDepthPolicyApplied');
    expect(flattened?.data).toMatchObject({ action: 'flattened' });
    const clone = await engine.linkedClone({
      operationId: opId(),
      source: { layerId: s2.frozenLayerId },
      diskId: 'deep',
    });
    expect(clone.events.map((e) => e.type)).toEqual(['LayerCreated', 'DiskCreated']);
    expect([
      await byteAt('deep', 0),
      await byteAt('deep', 65536),
      await byteAt('keep-s1', 65536),
    ]).toEqual([1, 2, 0]);
  });
});

describe('idempotency by operation id', () => {
  it('replays the recorded result, also after a restart, and refuses an id reused for another command', async () => {
    engine = await startEngine(box);
    const command = {
      operationId: 'create-vm-1',
      datastoreId: 'ds1',
      diskId: 'vm',
      format: 'thin' as const,
      capacityBytes: 8 * MIB,
    };
    const first = await engine.createDisk(command);
    expect(await engine.createDisk(command)).toEqual(first);
    await engine.stop();
    engine = await startEngine(box);
    expect(await engine.createDisk(command)).toEqual(first);
    expect(engine.inventory().disks).toHaveLength(1);
    await refused(engine.createDisk({ ...command, diskId: 'other' }), 'DISK.OPERATION_CONFLICT');
  });

  it('joins a call already under way instead of running it twice', async () => {
    engine = await startEngine(box);
    const command = {
      operationId: 'create-eager',
      datastoreId: 'ds1',
      diskId: 'vm',
      format: 'thick-eager-zeroed' as const,
      capacityBytes: 64 * MIB,
    };
    const [a, b] = await Promise.all([engine.createDisk(command), engine.createDisk(command)]);
    expect(a).toEqual(b);
    expect(engine.inventory().layers).toHaveLength(1);
  });
});

describe('bad input', () => {
  it('answers with stable codes and leaves nothing half-written', async () => {
    engine = await startEngine(box);
    await diskWith('vm', [[0, 1]]);
    await engine.freeze({ operationId: opId(), diskId: 'vm' });
    const before = await files();
    await refused(engine.snapshot({ operationId: opId(), diskId: 'ghost' }), 'DISK.NOT_FOUND');
    await refused(
      engine.createDisk({
        operationId: opId(),
        datastoreId: 'nowhere',
        diskId: 'x',
        format: 'thin',
        capacityBytes: MIB,
      }),
      'DISK.NOT_FOUND',
    );
    await refused(
      engine.write({ diskId: 'vm', offsetBytes: 0, data: pattern(2, 512) }),
      'DISK.LAYER_FROZEN',
    );
    await refused(
      engine.read({ target: { diskId: 'vm' }, offsetBytes: 8 * MIB - 512, lengthBytes: 1024 }),
      'DISK.OUT_OF_RANGE',
    );
    await refused(
      engine.blockMap({ target: { diskId: 'vm' }, offsetBytes: 9 * MIB }),
      'DISK.OUT_OF_RANGE',
    );
    await refused(
      engine.createDisk({
        operationId: opId(),
        datastoreId: 'ds1',
        diskId: '../escape',
        format: 'thin',
        capacityBytes: MIB,
      }),
      'DISK.BAD_NAME',
    );
    await refused(
      engine.createDisk({
        operationId: 'a/b',
        datastoreId: 'ds1',
        diskId: 'x',
        format: 'thin',
        capacityBytes: MIB,
      }),
      'DISK.BAD_NAME',
    );
    expect(await files()).toEqual(before);
  });
});

describe('import and export', () => {
  it('imports raw, qcow2 and VMDK (monolithicSparse, streamOptimized) and exports streamOptimized VMDK', async () => {
    engine = await startEngine(box);
    const raw = join(box.dir, 'appliance.raw');
    await writeFile(raw, Buffer.concat([pattern(7, 2 * MIB), Buffer.alloc(2 * MIB)]));
    const sources = {
      raw,
      qcow2: join(box.dir, 'appliance.qcow2'),
      sparse: join(box.dir, 'appliance-sparse.vmdk'),
      stream: join(box.dir, 'appliance-stream.vmdk'),
    };
    const ref = { file: raw, format: 'raw' as const };
    await qemuImg.convert({
      source: ref,
      target: {
        file: sources.qcow2,
        format: 'qcow2',
        provisioning: 'thin',
        clusterSizeBytes: 65536,
      },
    });
    await qemuImg.convert({
      source: ref,
      target: { file: sources.sparse, format: 'vmdk', subformat: 'monolithicSparse' },
    });
    await qemuImg.convert({
      source: ref,
      target: { file: sources.stream, format: 'vmdk', subformat: 'streamOptimized' },
    });
    const imports = [
      ['raw', sources.raw],
      ['qcow2', sources.qcow2],
      ['vmdk', sources.sparse],
      ['vmdk', sources.stream],
    ] as const;
    for (const [i, [sourceFormat, sourcePath]] of imports.entries()) {
      const disk = await engine.importImage({
        operationId: opId(),
        datastoreId: 'ds1',
        diskId: `imported-${i}`,
        sourcePath,
        sourceFormat,
        format: 'thin',
      });
      expect(await qemuImg.compare(qcow2(disk.layerId), ref)).toBe(true);
    }
    const out = join(box.dir, 'export.vmdk');
    const exported = await engine.exportVmdk({
      operationId: opId(),
      source: { diskId: 'imported-0' },
      targetPath: out,
    });
    expect(exported.sizeBytes).toBeGreaterThan(0);
    expect((await qemuImg.info(out, 'vmdk')).vmdkCreateType).toBe('streamOptimized');
    expect(await qemuImg.compare({ file: out, format: 'vmdk' }, ref)).toBe(true);
  });

  it('refuses an image that is not what it says, one with an outside backing file, and unsupported VMDK', async () => {
    engine = await startEngine(box);
    const qcowNamedRaw = join(box.dir, 'disk.raw');
    await qemuImg.create({
      file: qcowNamedRaw,
      capacityBytes: MIB,
      clusterSizeBytes: 65536,
      format: 'thin',
    });
    const rawFile = join(box.dir, 'plain.img');
    await writeFile(rawFile, pattern(1, MIB));
    const withBacking = join(box.dir, 'overlay.qcow2');
    await qemuImg.create({
      file: withBacking,
      capacityBytes: MIB,
      clusterSizeBytes: 65536,
      format: 'thin',
      backingFileName: '/etc/passwd',
    });
    const flat = join(box.dir, 'flat.vmdk');
    await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'vmdk',
      '-o',
      'subformat=monolithicFlat',
      flat,
      String(MIB),
    ]);
    const before = await files();
    const attempt = (sourcePath: string, sourceFormat: 'raw' | 'qcow2' | 'vmdk') =>
      engine.importImage({
        operationId: opId(),
        datastoreId: 'ds1',
        diskId: 'x',
        sourcePath,
        sourceFormat,
        format: 'thin',
      });
    await refused(attempt(qcowNamedRaw, 'raw'), 'DISK.FORMAT_MISMATCH');
    await refused(attempt(qcowNamedRaw, 'qcow2'), 'DISK.FORMAT_MISMATCH');
    await refused(attempt(rawFile, 'qcow2'), 'DISK.FORMAT_MISMATCH');
    await refused(attempt(withBacking, 'qcow2'), 'DISK.BACKING_OUTSIDE_DATASTORE');
    await refused(attempt(flat, 'vmdk'), 'DISK.UNSUPPORTED_FORMAT');
    await refused(attempt('relative/path.raw', 'raw'), 'DISK.BAD_NAME');
    expect(await files()).toEqual(before);
    expect(engine.inventory().disks).toEqual([]);
  });
});

describe('block maps', () => {
  it('are compact, say which layer holds each extent and whether it is shared', async () => {
    engine = await startEngine(box);
    await diskWith('vm', [
      [0, 1],
      [65536, 1],
      [131072, 1],
      [2 * MIB, 1],
    ]);
    const { frozenLayerId } = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    await engine.linkedClone({
      operationId: opId(),
      source: { layerId: frozenLayerId },
      diskId: 'c',
    });
    await engine.write({ diskId: 'c', offsetBytes: 65536, data: pattern(2, 65536) });
    const map = await engine.blockMap({ target: { diskId: 'c' } });
    const own = topOf('c');
    expect(map.extents).toEqual([
      { offsetBytes: 0, lengthBytes: 65536, layerId: frozenLayerId, zero: false, shared: true },
      { offsetBytes: 65536, lengthBytes: 65536, layerId: own, zero: false, shared: false },
      {
        offsetBytes: 131072,
        lengthBytes: 65536,
        layerId: frozenLayerId,
        zero: false,
        shared: true,
      },
      {
        offsetBytes: 2 * MIB,
        lengthBytes: 65536,
        layerId: frozenLayerId,
        zero: false,
        shared: true,
      },
    ]);
    expect(map.bytesPerLayer).toEqual([
      { layerId: own, mappedBytes: 65536, shared: false },
      { layerId: frozenLayerId, mappedBytes: 3 * 65536, shared: true },
    ]);
    const window = await engine.blockMap({
      target: { diskId: 'c' },
      offsetBytes: 65536,
      lengthBytes: 65536,
    });
    expect(window.extents).toEqual([
      { offsetBytes: 65536, lengthBytes: 65536, layerId: own, zero: false, shared: false },
    ]);
  });
});
