/**
 * One bad thing stays one bad thing: a datastore whose folder cannot be opened is left out (with
 * its reason) while the engine serves the others, and a qemu-img that gives no answer (a wrong
 * binary, a crash, nonsense on stdout) quarantines nothing: the datastore is reported degraded.
 * Only QEMU's definite answer about an image (it describes it as something else, or refuses it
 * while describing a known-good image) quarantines it.
 */
import { chmod, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MIB, type Sandbox, opId, sandbox } from '../testing/fixtures';
import { type OperationRecord } from '../model/operation-log';
import * as qemuImg from '../qemu/qemu-img';
import { probeHolds } from './check';
import { QemuDiskEngine, probeDatastore } from './qemu-disk-engine';

jest.setTimeout(120_000);

let box: Sandbox;
let engine: QemuDiskEngine | undefined;
const savedQemuImg = process.env.DOLLY_QEMU_IMG;
beforeEach(async () => {
  box = await sandbox('faults');
});
afterEach(async () => {
  if (savedQemuImg === undefined) delete process.env.DOLLY_QEMU_IMG;
  else process.env.DOLLY_QEMU_IMG = savedQemuImg;
  await engine?.stop().catch(() => undefined);
  engine = undefined;
  await box.cleanup();
});

const twoDatastores = (bad: string) => ({
  datastores: [
    { datastoreId: 'ds1', path: box.datastorePath },
    { datastoreId: 'ds2', path: bad },
  ],
});

describe('a datastore whose folder cannot be opened', () => {
  const spoil: Array<[string, (path: string) => Promise<void>, string]> = [
    [
      'a file instead of a folder',
      (path) => writeFile(path, 'not a folder'),
      'DISK.DATASTORE_NOT_EMPTY',
    ],
    [
      "another datastore's identity",
      async (path) => {
        const other = await QemuDiskEngine.start({
          datastores: [{ datastoreId: 'someone-else', path }],
          runtimeDir: join(box.dir, 'rt-other'),
        });
        await other.engine.stop();
      },
      'DISK.DATASTORE_FOREIGN',
    ],
    [
      'an I/O error in its metadata (its lock is a folder: EISDIR)',
      async (path) => {
        await mkdir(join(path, '.dolly', 'lock'), { recursive: true });
        await writeFile(
          join(path, '.dolly', 'datastore.json'),
          JSON.stringify({ formatVersion: 1, datastoreId: 'ds2', initialisedAt: 'x' }),
        );
      },
      'DISK.IO.EISDIR',
    ],
  ];

  it.each(spoil)(
    'is left out (%s) while the others serve; it opens again once repaired',
    async (_case, make, code) => {
      const bad = join(box.dir, 'ds2');
      if (code !== 'DISK.DATASTORE_NOT_EMPTY') await mkdir(bad);
      await make(bad);

      const started = await QemuDiskEngine.start(box.config(twoDatastores(bad)));
      engine = started.engine;
      expect(started.report.inaccessible).toEqual([
        expect.objectContaining({ datastoreId: 'ds2', code }),
      ]);
      await expect(
        engine.createDisk({
          operationId: opId(),
          datastoreId: 'ds1',
          diskId: 'd1',
          format: 'thin',
          capacityBytes: MIB,
        }),
      ).resolves.toMatchObject({ datastoreId: 'ds1' });
      await expect(
        engine.createDisk({
          operationId: opId(),
          datastoreId: 'ds2',
          diskId: 'd2',
          format: 'thin',
          capacityBytes: MIB,
        }),
      ).rejects.toMatchObject({ code: 'DISK.NOT_FOUND' });

      // A retry finds it still broken, then (repaired) opens it.
      await expect(probeDatastore({ datastoreId: 'ds2', path: bad })).resolves.toMatchObject({
        code,
      });
      await rm(bad, { recursive: true, force: true });
      await mkdir(bad);
      await expect(probeDatastore({ datastoreId: 'ds2', path: bad })).resolves.toBeNull();
      await engine.stop();
      const again = await QemuDiskEngine.start(box.config(twoDatastores(bad)));
      engine = again.engine;
      expect(again.report.inaccessible).toEqual([]);
    },
  );

  it('is left out when its metadata may not be read (permission denied; skipped as root)', async () => {
    if (process.geteuid?.() === 0) {
      // root reads whatever the mode says: EACCES cannot be made here (the EISDIR case covers
      // an error while opening the metadata).
      return;
    }
    const bad = join(box.dir, 'ds2');
    await mkdir(bad);
    const first = await QemuDiskEngine.start(box.config(twoDatastores(bad)));
    await first.engine.stop();
    await chmod(join(bad, '.dolly'), 0o000);
    try {
      const started = await QemuDiskEngine.start(box.config(twoDatastores(bad)));
      engine = started.engine;
      expect(started.report.inaccessible).toEqual([
        expect.objectContaining({
          datastoreId: 'ds2',
          code: expect.stringMatching(/EACCES|NOT_FOUND/),
        }),
      ]);
    } finally {
      await chmod(join(bad, '.dolly'), 0o750);
    }
  });
});

describe('check with a qemu-img that gives no answer', () => {
  async function datastoreWithChain() {
    const started = await QemuDiskEngine.start(box.config());
    engine = started.engine;
    await engine.createDisk({
      operationId: opId(),
      datastoreId: 'ds1',
      diskId: 'd1',
      format: 'thin',
      capacityBytes: MIB,
    });
    await engine.freeze({ operationId: opId(), diskId: 'd1' });
    await engine.linkedClone({ operationId: opId(), source: { diskId: 'd1' }, diskId: 'c1' });
    return engine;
  }

  const script = async (name: string, body: string) => {
    const path = join(box.dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return path;
  };

  const brokenBinaries: Array<[string, () => Promise<string>]> = [
    ['a wrong binary (/bin/false)', async () => '/bin/false'],
    ['a binary that does not exist', async () => join(box.dir, 'no-such-qemu-img')],
    ['a qemu-img that crashes (SIGSEGV)', () => script('segv', 'kill -SEGV $$')],
    ['a qemu-img that is killed (out of memory: SIGKILL)', () => script('oom', 'kill -KILL $$')],
    ['a qemu-img that prints nonsense and succeeds', () => script('junk', 'echo "{oops"; exit 0')],
    [
      'a qemu-img that says nothing and fails',
      () => script('fail', 'echo "qemu-img: Could not open: Cannot allocate memory" >&2; exit 1'),
    ],
  ];

  it.each(brokenBinaries)(
    'quarantines nothing with %s: the datastore is degraded',
    async (_case, binary) => {
      const e = await datastoreWithChain();
      const layersBefore = e.inventory().layers.length;
      process.env.DOLLY_QEMU_IMG = await binary();

      const report = await e.check({ operationId: opId('check'), repair: true });

      expect(report.findings.filter((f) => f.action === 'quarantined')).toEqual([]);
      expect(report.findings.filter((f) => f.kind === 'undetermined').length).toBe(layersBefore);
      expect(e.inventory().layers.filter((l) => l.quarantined)).toEqual([]);
      expect(e.degraded()).toEqual([
        expect.objectContaining({
          datastoreId: 'ds1',
          reason: expect.stringContaining('qemu-img'),
        }),
      ]);

      // The right qemu-img back: the next check judges every layer, and the datastore is well.
      delete process.env.DOLLY_QEMU_IMG;
      const after = await e.check({ operationId: opId('check'), repair: true });
      expect(after.clean).toBe(true);
      expect(e.degraded()).toEqual([]);
      await expect(
        e.read({ target: { diskId: 'c1' }, offsetBytes: 0, lengthBytes: 512 }),
      ).resolves.toHaveLength(512);
    },
  );

  it('still quarantines what QEMU definitely refuses (a qcow2 header it cannot read)', async () => {
    const e = await datastoreWithChain();
    const top = e.inventory().disks.find((d) => d.diskId === 'c1')!.topLayerId;
    const file = e.inventory().layers.find((l) => l.layerId === top)!.fileName;
    // qcow2 magic with version 99: qemu-img info exits 1 ("Unsupported qcow2 version").
    const handle = await open(join(box.datastorePath, file), 'r+');
    await handle.write(Buffer.from([0, 0, 0, 99]), 0, 4, 4);
    await handle.close();

    const report = await e.check({ operationId: opId('check'), repair: true });

    expect(report.findings).toContainEqual(
      expect.objectContaining({ kind: 'not-qcow2', subject: top, action: 'quarantined' }),
    );
    expect(
      e
        .inventory()
        .layers.filter((l) => l.quarantined)
        .map((l) => l.layerId),
    ).toEqual([top]);
    expect(e.degraded()).toEqual([]);
  });
});

describe('finishing an operation cut short, with a qemu-img that gives no answer', () => {
  it('neither rolls it forward nor back: undetermined, until qemu-img answers', async () => {
    const root = box.datastorePath;
    await qemuImg.create({
      file: join(root, 'base.qcow2'),
      capacityBytes: MIB,
      clusterSizeBytes: 65536,
      format: 'thin',
    });
    await qemuImg.create({
      file: join(root, 'top.qcow2'),
      capacityBytes: MIB,
      clusterSizeBytes: 65536,
      format: 'thin',
      backingFileName: 'base.qcow2',
      cwd: root,
    });
    const record = {
      intent: { completedWhen: { fileName: 'top.qcow2', backingFileName: 'base.qcow2' } },
    } as unknown as OperationRecord;

    process.env.DOLLY_QEMU_IMG = '/bin/false';
    await expect(probeHolds(root, record)).resolves.toBe('undetermined');
    delete process.env.DOLLY_QEMU_IMG;
    await expect(probeHolds(root, record)).resolves.toBe(true);
  });
});
