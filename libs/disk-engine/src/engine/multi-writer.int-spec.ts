/**
 * Several workers on one datastore: engines in two child processes (each with its own storage
 * daemon) share a datastore folder, as the clone workers of one consumer group do.
 *  - interleaved random operations from both: at the end both see the same graph, and check
 *    (from either, and from a third engine started afterwards) finds nothing to repair;
 *  - one worker SIGKILLed in the middle of a full clone, the other retries the operation id: the
 *    clone is rolled back and made again, exactly once, and nothing is left behind;
 *  - the same operation id from both while the first runs: it runs once, the second is told it
 *    is in progress and later gets the first one's outcome;
 *  - a disk open for writing in one worker's daemon: the other's check leaves it unchecked.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type DiskErrorCode } from '../errors';
import { type DiskResult, type Inventory } from '../port';
import * as qemuImg from '../qemu/qemu-img';
import { MIB, type Sandbox, fullCopyOfSrc, opId, sandbox, startEngine } from '../testing/fixtures';
import { WorkerProcess } from '../testing/worker-process';

jest.setTimeout(120_000);

let box: Sandbox;
let workers: WorkerProcess[] = [];
beforeEach(async () => {
  box = await sandbox('multi');
});
afterEach(async () => {
  for (const w of workers) await w.killWithDaemon().catch(() => undefined);
  workers = [];
  await box.cleanup();
});

/** A worker of its own (daemon folder of its own) on the sandbox's datastore. */
async function worker(name: string): Promise<WorkerProcess> {
  const w = await WorkerProcess.start(box.config({ runtimeDir: join(box.dir, `rt-${name}`) }));
  workers.push(w);
  return w;
}

async function stopAll(): Promise<void> {
  for (const w of workers) await w.stop();
  workers = [];
}

/** Resolves to the error code of a failed call, or to the result. */
async function outcome(
  call: Promise<unknown>,
): Promise<{ code?: DiskErrorCode; result?: unknown; error?: unknown }> {
  return call.then(
    (result) => ({ result }),
    (error: { code?: DiskErrorCode; message?: string; details?: unknown }) => ({
      code: error.code ?? ('unknown' as DiskErrorCode),
      error,
    }),
  );
}

/** The graph as a worker sees it, in an order that does not depend on history. */
async function graphSeenBy(w: WorkerProcess) {
  const inventory = (await w.call('inventory', {})) as Inventory;
  return {
    disks: inventory.disks.sort((a, b) => a.diskId.localeCompare(b.diskId)),
    layers: inventory.layers.sort((a, b) => a.layerId.localeCompare(b.layerId)),
  };
}

/** Every file in the folder is a layer's image and passes qemu-img check; nothing else is there. */
async function expectOnlyCleanLayers(layerFiles: string[]): Promise<void> {
  const names = (await readdir(box.datastorePath)).filter((n) => n !== '.dolly').sort();
  expect(names).toEqual([...layerFiles].sort());
  for (const name of names) {
    await expect(
      qemuImg.check(join(box.datastorePath, name), { forceShare: true }),
    ).resolves.toMatchObject({ corruptions: 0, leaks: 0, checkErrors: 0 });
  }
}

/** A source disk holding `megabytes` of data no copy can skip (no zero runs). */
async function seedSource(w: WorkerProcess, diskId: string, megabytes: number): Promise<void> {
  const raw = join(box.dir, `${diskId}.raw`);
  const file = await open(raw, 'w');
  const block = randomBytes(MIB);
  for (let m = 0; m < megabytes; m++) {
    block.writeUInt32LE(m + 1, 0);
    await file.write(block, 0, MIB, m * MIB);
  }
  await file.close();
  await w.call('importImage', {
    operationId: opId('import'),
    datastoreId: 'ds1',
    diskId,
    sourcePath: raw,
    sourceFormat: 'raw',
    format: 'thin',
  });
}

/** Calls `method` and resolves once the operation has reported progress (it is under way). */
function underWay(w: WorkerProcess, method: string, command: unknown) {
  let progressed!: () => void;
  const first = new Promise<void>((resolve) => (progressed = resolve));
  const done = outcome(w.call(method, command, () => progressed()));
  return { first: Promise.race([first, done.then(() => undefined)]), done };
}

/** mulberry32: a small seeded generator, so that a failing interleaving can be run again. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

it('two workers interleaving random operations end with one graph, and check finds nothing to repair', async () => {
  const seed = Number(process.env.DOLLY_MW_SEED ?? Date.now() % 1_000_000);
  const steps = Number(process.env.DOLLY_MW_STEPS ?? 30);
  const [a, b] = [await worker('a'), await worker('b')];
  await a.call('createDisk', {
    operationId: opId('create'),
    datastoreId: 'ds1',
    diskId: 'base',
    format: 'thin',
    capacityBytes: 16 * MIB,
  });
  await a.call('freeze', { operationId: opId('freeze'), diskId: 'base' });
  const base = (await graphSeenBy(b)).disks[0].topLayerId; // b sees what a committed
  const disks = ['base'];
  const frozen = [base];
  // Refusals the graph may answer with when the other worker got there first.
  const allowed: DiskErrorCode[] = [
    'DISK.NOT_FOUND',
    'DISK.BUSY',
    'DISK.LAYER_FROZEN',
    'DISK.NOT_FROZEN',
    'DISK.QUARANTINED',
  ];
  const counts = new Map<string, number>();

  const drive = async (w: WorkerProcess, name: string, next: () => number) => {
    const any = <T>(items: T[]) => items[Math.floor(next() * items.length)];
    for (let i = 0; i < steps; i++) {
      const diskId = `${name}-${i}`;
      const roll = next();
      const [method, command] =
        roll < 0.35
          ? ['linkedClone', { source: { layerId: any(frozen) }, diskId }]
          : roll < 0.5
            ? [
                'fullClone',
                { source: { diskId: any(disks) }, diskId, datastoreId: 'ds1', format: 'same' },
              ]
            : roll < 0.75
              ? ['snapshot', { diskId: any(disks) }]
              : ['deleteDisk', { diskId: any(disks.filter((d) => d !== 'base')) ?? 'none' }];
      const done = await outcome(w.call(method, { operationId: opId(method), ...command }));
      counts.set(
        `${method} ${done.code ?? 'ok'}`,
        (counts.get(`${method} ${done.code ?? 'ok'}`) ?? 0) + 1,
      );
      if (done.code && !allowed.includes(done.code))
        throw new Error(
          `seed ${seed}: ${method} ${JSON.stringify(command)} failed: ${String((done.error as Error).message)} ${JSON.stringify(done.error)}`,
        );
      const result = done.result as (Partial<DiskResult> & { frozenLayerId?: string }) | undefined;
      if (result?.diskId && method !== 'snapshot') disks.push(result.diskId);
      if (result?.frozenLayerId) frozen.push(result.frozenLayerId);
    }
  };
  const generator = random(seed);
  const [fromA, fromB] = [
    random(Math.floor(generator() * 2 ** 32)),
    random(Math.floor(generator() * 2 ** 32)),
  ];
  await Promise.all([drive(a, 'a', fromA), drive(b, 'b', fromB)]);

  if (process.env.DOLLY_MW_VERBOSE) console.log(seed, Object.fromEntries([...counts].sort()));
  const [seenByA, seenByB] = [await graphSeenBy(a), await graphSeenBy(b)];
  expect(seenByB).toEqual(seenByA);
  expect(counts.get('linkedClone ok') ?? 0).toBeGreaterThan(0);
  for (const w of [a, b]) {
    await expect(
      w.call('check', { operationId: opId('check'), repair: false }),
    ).resolves.toMatchObject({
      clean: true,
    });
  }
  await stopAll();

  // A third engine, started on what the two left, sees the same graph and a clean datastore.
  const engine = await startEngine(box, { runtimeDir: join(box.dir, 'rt-c') });
  try {
    const inventory = engine.inventory();
    expect(inventory.disks.map((d) => d.diskId).sort()).toEqual(seenByA.disks.map((d) => d.diskId));
    expect(inventory.layers.map((l) => l.layerId).sort()).toEqual(
      seenByA.layers.map((l) => l.layerId),
    );
    await expect(
      engine.check({ operationId: opId('check'), repair: false }),
    ).resolves.toMatchObject({
      clean: true,
    });
    await expectOnlyCleanLayers(inventory.layers.map((l) => l.fileName));
  } finally {
    await engine.stop();
  }
});

it('a worker killed in the middle of a full clone: another retries the operation id and the clone is made once', async () => {
  const [a, b] = [await worker('a'), await worker('b')];
  await seedSource(a, 'src', 384);
  const command = fullCopyOfSrc('clone-1');
  const cloning = underWay(a, 'fullClone', command);
  await cloning.first;
  await a.killWithDaemon();
  workers = [b];
  expect((await cloning.done).code).toBe('unknown'); // the process died: no answer at all
  // b sees the clone cut short (its owner is gone), and would roll it back.
  const report = (await b.call('check', { operationId: opId('check'), repair: false })) as {
    findings: unknown[];
  };
  expect(report.findings).toContainEqual(
    expect.objectContaining({
      kind: 'unfinished-operation',
      subject: 'clone-1',
      action: 'reported',
      detail: expect.objectContaining({ would: 'rolled-back' }),
    }),
  );

  const again = (await b.call('fullClone', command)) as DiskResult;
  expect(again).toMatchObject({ diskId: 'copy', operationId: 'clone-1' });
  // Once: a retry replays the same outcome, and the datastore holds one copy.
  expect(await b.call('fullClone', command)).toEqual(again);
  const graph = await graphSeenBy(b);
  expect(graph.disks.map((d) => d.diskId)).toEqual(['copy', 'src']);
  expect(graph.layers).toHaveLength(2);
  await expect(
    b.call('check', { operationId: opId('check'), repair: false }),
  ).resolves.toMatchObject({
    clean: true,
  });
  await expectOnlyCleanLayers(graph.layers.map((l) => l.fileName));
  const file = (layerId: string) => ({
    file: join(box.datastorePath, `${layerId}.qcow2`),
    format: 'qcow2' as const,
  });
  const src = graph.disks.find((d) => d.diskId === 'src')!.topLayerId;
  expect(await qemuImg.compare(file(again.layerId), file(src))).toBe(true);
});

it('the same operation id from two workers at once runs once', async () => {
  const [a, b] = [await worker('a'), await worker('b')];
  await seedSource(a, 'src', 256);
  const command = fullCopyOfSrc('clone-2');
  const first = underWay(a, 'fullClone', command);
  await first.first;
  // While a copies, b's check (repairing) leaves a's operation and its temporary file alone.
  const report = (await b.call('check', { operationId: opId('check'), repair: true })) as {
    findings: Array<{ kind: string }>;
  };
  expect(report.findings.filter((f) => f.kind !== 'qcow2-leaks')).toEqual([]);
  const second = await outcome(b.call('fullClone', command));
  const fromA = await first.done;
  expect(fromA.code).toBeUndefined();
  // b came while a was copying (it is told so), or after a had committed (it gets a's result).
  if (second.code) expect(second.code).toBe('DISK.OPERATION_IN_PROGRESS');
  else expect(second.result).toEqual(fromA.result);
  expect(await b.call('fullClone', command)).toEqual(fromA.result);

  const graph = await graphSeenBy(b);
  expect(graph.disks.map((d) => d.diskId)).toEqual(['copy', 'src']);
  expect(graph.layers).toHaveLength(2);
  await stopAll();
  await expectOnlyCleanLayers(graph.layers.map((l) => l.fileName));
});

it("a disk open for writing in one worker's daemon is left unchecked by another worker's check", async () => {
  const [a, b] = [await worker('a'), await worker('b')];
  await a.call('createDisk', {
    operationId: opId('create'),
    datastoreId: 'ds1',
    diskId: 'vm',
    format: 'thin',
    capacityBytes: 16 * MIB,
  });
  await a.call('openLive', { operationId: opId('open'), target: { diskId: 'vm' } });
  const report = (await b.call('check', { operationId: opId('check'), repair: true })) as {
    findings: Array<{ kind: string; action: string }>;
  };
  expect(report.findings).toEqual([
    expect.objectContaining({ kind: 'not-checked', action: 'reported' }),
  ]);
  expect((await graphSeenBy(a)).layers.filter((l) => l.quarantined)).toEqual([]);
});
