/**
 * Crash tests: the worker runs in a child process; the test SIGKILLs it and its daemon during a
 * write load, a full clone and a consolidate, then starts an engine on the same datastore (whose
 * start-up check recovers it) and looks at what is left: every flushed write is there, every
 * image passes qemu-img check, no orphan or half-made clone is visible, and the interrupted
 * operation can be run again under its id.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { NbdClient } from '../nbd/nbd-client';
import * as qemuImg from '../qemu/qemu-img';
import {
  MIB,
  type Sandbox,
  fullCopyOfSrc,
  opId,
  pattern,
  sandbox,
  startEngine,
} from '../testing/fixtures';
import { WorkerProcess } from '../testing/worker-process';
import { type QemuDiskEngine, type StartReport } from './qemu-disk-engine';
import { QemuDiskEngine as Engine } from './qemu-disk-engine';

jest.setTimeout(180_000);

let box: Sandbox;
let engine: QemuDiskEngine | undefined;
let worker: WorkerProcess | undefined;
beforeEach(async () => {
  box = await sandbox('crash');
});
afterEach(async () => {
  await worker?.killWithDaemon().catch(() => undefined);
  worker = undefined;
  await engine?.stop().catch(() => undefined);
  engine = undefined;
  await box.cleanup();
});

/** Restarts on the datastore the dead worker left, as a new worker would. */
async function restart(): Promise<StartReport> {
  const started = await Engine.start(box.config());
  engine = started.engine;
  return started.report;
}

/**
 * Starts an operation in the worker and kills the worker and its daemon at its first progress
 * report, so the operation is under way (its `started` line is logged, its work in progress).
 */
async function crashDuring(w: WorkerProcess, method: string, command: unknown): Promise<unknown> {
  let underWay!: () => void;
  const progressed = new Promise<void>((resolve) => (underWay = resolve));
  const outcome = w
    .call(method, command, () => underWay())
    .then(
      () => 'finished',
      () => 'killed',
    );
  const first = await Promise.race([progressed.then(() => 'progressed'), outcome]);
  if (first !== 'progressed') throw new Error(`${method} ${first} before it reported progress`);
  await w.killWithDaemon();
  worker = undefined;
  return outcome;
}

/** No temporary file, no image that no layer names, every image clean. */
async function expectCleanDatastore(e: QemuDiskEngine): Promise<void> {
  const names = (await readdir(box.datastorePath)).filter((n) => n !== '.dolly').sort();
  const layerFiles = e
    .inventory()
    .layers.map((l) => l.fileName)
    .sort();
  expect(names).toEqual(layerFiles);
  for (const name of names) {
    await expect(
      qemuImg.check(join(box.datastorePath, name), { forceShare: true }),
    ).resolves.toMatchObject({ corruptions: 0, leaks: 0 });
  }
  await expect(e.check({ operationId: opId(), repair: false })).resolves.toMatchObject({
    clean: true,
  });
  expect(e.inventory().layers.filter((l) => l.quarantined)).toEqual([]);
}

/** A source disk with `megabytes` of data written (distinct bytes per MiB), prepared offline. */
async function seededDisk(diskId: string, megabytes: number, capacityBytes: number) {
  const e = await startEngine(box);
  await e.createDisk({
    operationId: opId(),
    datastoreId: 'ds1',
    diskId,
    format: 'thin',
    capacityBytes,
  });
  const live = await e.openLive({ operationId: opId(), target: { diskId } });
  const client = await NbdClient.connect(
    { socketPath: (live.endpoint as { socketPath: string }).socketPath },
    diskId,
  );
  for (let m = 0; m < megabytes; m++) await client.write(m * MIB, pattern((m % 250) + 1, MIB));
  await client.flush();
  await client.close();
  await e.closeLive({ operationId: opId(), target: { diskId } });
  await e.stop();
}

it('SIGKILL during a write load: every flushed write is there after restart and check', async () => {
  worker = await WorkerProcess.start(box.config());
  await worker.call('createDisk', {
    operationId: 'create',
    datastoreId: 'ds1',
    diskId: 'vm',
    format: 'thin',
    capacityBytes: 64 * MIB,
  });
  const live = (await worker.call('openLive', {
    operationId: 'open',
    target: { diskId: 'vm' },
  })) as { endpoint: { socketPath: string } };
  const client = await NbdClient.connect({ socketPath: live.endpoint.socketPath }, 'vm');
  const blockBytes = 65536;
  const blocks = 1024;
  const stamp = (seq: number) => {
    const b = Buffer.alloc(blockBytes);
    for (let i = 0; i < blockBytes; i += 4) b.writeUInt32LE(seq, i);
    return b;
  };
  const flushed = new Map<number, number>(); // block -> last stamp on stable storage
  const written = new Map<number, number[]>(); // block -> every stamp sent to it
  let pending = new Map<number, number>();
  let seq = 0;
  const load = (async () => {
    for (;;) {
      const writes = [];
      for (let i = 0; i < 16; i++) {
        seq += 1;
        const block = (seq * 7919) % blocks;
        written.set(block, [...(written.get(block) ?? []), seq]);
        pending.set(block, seq);
        writes.push(client.write(block * blockBytes, stamp(seq)));
      }
      await Promise.all(writes);
      await client.flush();
      for (const [block, s] of pending) flushed.set(block, s);
      pending = new Map();
    }
  })().catch(() => undefined);
  while (flushed.size < blocks / 2) await new Promise((r) => setImmediate(r));
  await worker.killWithDaemon();
  worker = undefined;
  await load;

  const report = await restart();
  expect(report.reopenedExports.map((e) => e.exportName)).toEqual(['vm']);
  const image = await engine!.read({
    target: { diskId: 'vm' },
    offsetBytes: 0,
    lengthBytes: blocks * blockBytes,
  });
  for (const [block, last] of flushed) {
    const value = image.readUInt32LE(block * blockBytes);
    expect(value).toBeGreaterThanOrEqual(last); // the flushed write, or a later one that made it
    expect(written.get(block)).toContain(value);
    expect(image.subarray(block * blockBytes, (block + 1) * blockBytes).equals(stamp(value))).toBe(
      true,
    );
  }
  await engine!.closeLive({ operationId: opId(), target: { diskId: 'vm' } });
  await expectCleanDatastore(engine!);
});

it('SIGKILL during a full clone: no half-made clone, the source intact, and the clone can be run again', async () => {
  await seededDisk('src', 384, 512 * MIB);
  worker = await WorkerProcess.start(box.config());
  const command = fullCopyOfSrc('clone-1');
  const cloning = await crashDuring(worker, 'fullClone', command);
  expect(cloning).toBe('killed');

  const report = await restart();
  expect(report.check.findings).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        kind: 'unfinished-operation',
        subject: 'clone-1',
        action: 'rolled-back',
      }),
    ]),
  );
  expect(engine!.inventory().disks.map((d) => d.diskId)).toEqual(['src']);
  await expectCleanDatastore(engine!);
  expect(
    (await engine!.read({ target: { diskId: 'src' }, offsetBytes: 383 * MIB, lengthBytes: 1 }))[0],
  ).toBe((383 % 250) + 1);

  const again = await engine!.fullClone(command as Parameters<QemuDiskEngine['fullClone']>[0]);
  const files = (d: string) => ({
    file: join(box.datastorePath, `${d}.qcow2`),
    format: 'qcow2' as const,
  });
  const src = engine!.inventory().disks.find((d) => d.diskId === 'src')!.topLayerId;
  expect(await qemuImg.compare(files(again.layerId), files(src))).toBe(true);
  await expectCleanDatastore(engine!);
});

it('SIGKILL during a consolidate: the disk reads as before, check is clean, and it can be run again', async () => {
  await seededDisk('vm', 8, 512 * MIB);
  {
    const e = await startEngine(box);
    await e.snapshot({ operationId: opId(), diskId: 'vm' });
    const live = await e.openLive({ operationId: opId(), target: { diskId: 'vm' } });
    const client = await NbdClient.connect(
      { socketPath: (live.endpoint as { socketPath: string }).socketPath },
      'vm',
    );
    for (let m = 4; m < 260; m++) await client.write(m * MIB, pattern((m % 200) + 3, MIB));
    await client.flush();
    await client.close();
    await e.closeLive({ operationId: opId(), target: { diskId: 'vm' } });
    await e.stop();
  }
  const before = join(box.dir, 'before.raw');
  const topFile = async () => {
    const [layers] = [(await readdir(box.datastorePath)).filter((n) => n.endsWith('.qcow2'))];
    return layers;
  };
  worker = await WorkerProcess.start(box.config());
  const inventory = (await worker.call('inventory', {})) as {
    disks: Array<{ topLayerId: string }>;
  };
  const top = join(box.datastorePath, `${inventory.disks[0].topLayerId}.qcow2`);
  await qemuImg.convert({
    source: { file: top, format: 'qcow2', forceShare: true },
    target: { file: before, format: 'raw' },
  });
  expect(await topFile()).toHaveLength(2);

  const command = { operationId: 'merge-1', target: { diskId: 'vm' } };
  const consolidating = await crashDuring(worker, 'consolidate', command);
  expect(consolidating).toBe('killed');

  const report = await restart();
  const finished = report.check.findings.find((f) => f.subject === 'merge-1');
  expect(finished).toMatchObject({ kind: 'unfinished-operation' });
  expect(['rolled-back', 'rolled-forward']).toContain(finished?.action);
  const now = (d: string) => ({
    file: join(box.datastorePath, `${d}.qcow2`),
    format: 'qcow2' as const,
  });
  const vm = () => engine!.inventory().disks.find((d) => d.diskId === 'vm')!.topLayerId;
  expect(await qemuImg.compare(now(vm()), { file: before, format: 'raw' })).toBe(true);
  await expectCleanDatastore(engine!);

  await engine!.consolidate(command);
  expect(engine!.inventory().layers).toHaveLength(1);
  expect(await qemuImg.compare(now(vm()), { file: before, format: 'raw' })).toBe(true);
  await expectCleanDatastore(engine!);
});
