/**
 * Model-based test: random sequences of writes (through the NBD exports), snapshots, freezes,
 * linked and full clones, forks, consolidations, materialisations and deletes, run against the
 * real engine and against a plain in-memory model (a buffer per disk and per frozen layer).
 * After every command the disks it touched must read as the model says; after every sequence,
 * every disk and every frozen layer must, and check must find the datastore clean.
 *
 * Structural refusals (consolidating onto a shared layer, merging a disk in use...) depend on the
 * layer graph, which the model leaves out on purpose: the test accepts those refusals by code,
 * and requires that content is unchanged either way.
 *
 * DOLLY_MBT_RUNS (default 10), DOLLY_MBT_COMMANDS (default 30), DOLLY_MBT_SEED: longer runs.
 */
import fc from 'fast-check';
import { type DiskErrorCode, isDiskEngineError } from '../errors';
import { type LiveExport } from '../daemon/live-graph';
import { NbdClient } from '../nbd/nbd-client';
import { type ProvisioningFormat } from '../model/layer-graph';
import { KIB, type Sandbox, sandbox, startEngine } from '../testing/fixtures';
import { type QemuDiskEngine } from './qemu-disk-engine';

const RUNS = Number(process.env.DOLLY_MBT_RUNS ?? 10);
const COMMANDS = Number(process.env.DOLLY_MBT_COMMANDS ?? 30);
const SEED = process.env.DOLLY_MBT_SEED ? Number(process.env.DOLLY_MBT_SEED) : undefined;

jest.setTimeout(Math.max(300_000, RUNS * COMMANDS * 2_000));

const BLOCK = 64 * KIB;
const BLOCKS = 16;
const CAPACITY = BLOCK * BLOCKS;
const MAX_DISKS = 6;

interface Model {
  disks: Map<string, { content: Buffer; frozenTop: boolean }>;
  frozen: Map<string, Buffer>;
  next: number;
}

interface Real {
  engine: QemuDiskEngine;
  clients: Map<string, NbdClient>;
}

type Command = fc.AsyncCommand<Model, Real>;

const pick = <T>(items: T[], index: number): T => items[index % items.length];
const diskIds = (m: Model) => [...m.disks.keys()];

/** What the structural operations did over all runs: printed with DOLLY_MBT_VERBOSE=1. */
const outcomes = new Map<string, number>();
const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
afterAll(() => {
  if (process.env.DOLLY_MBT_VERBOSE) console.log(Object.fromEntries([...outcomes].sort()));
});

/** Runs a call the graph may refuse; the refusal must be one of `allowed`. */
async function allowing<T>(
  what: string,
  call: Promise<T>,
  allowed: DiskErrorCode[],
): Promise<T | undefined> {
  try {
    const result = await call;
    count(`${what} done`);
    return result;
  } catch (error) {
    const code = allowed.find((c) => isDiskEngineError(error, c));
    if (!code) throw error;
    count(`${what} refused ${code}`);
    return undefined;
  }
}

async function expectRefusal(call: Promise<unknown>, code: DiskErrorCode): Promise<void> {
  const error = await call.then(
    () => new Error(`expected ${code}, the call succeeded`),
    (e: unknown) => e,
  );
  if (!isDiskEngineError(error, code)) throw error;
}

async function closeClient(r: Real, diskId: string): Promise<void> {
  await r.clients.get(diskId)?.close();
  r.clients.delete(diskId);
}

async function clientFor(r: Real, diskId: string, opened?: LiveExport): Promise<NbdClient> {
  const existing = r.clients.get(diskId);
  if (existing) return existing;
  const live =
    opened ??
    (await r.engine.openLive({ operationId: `open-${diskId}-${Date.now()}`, target: { diskId } }));
  const endpoint = live.endpoint as { socketPath: string };
  const client = await NbdClient.connect({ socketPath: endpoint.socketPath }, live.exportName);
  r.clients.set(diskId, client);
  return client;
}

/** Closes the test's client and the disk's export, as a VM powering off would. */
async function powerOff(m: Model, r: Real, diskId: string): Promise<void> {
  if (!r.clients.has(diskId)) return;
  await closeClient(r, diskId);
  await r.engine.closeLive({ operationId: op(m, 'close'), target: { diskId } });
}

async function expectDisk(m: Model, r: Real, diskId: string): Promise<void> {
  const actual = await r.engine.read({ target: { diskId }, offsetBytes: 0, lengthBytes: CAPACITY });
  if (!actual.equals(m.disks.get(diskId)!.content))
    throw new Error(`disk ${diskId} differs from the model`);
}

/** Frozen layers may be merged into their only user or reclaimed with their last: the model follows. */
async function expectFrozen(m: Model, r: Real): Promise<void> {
  const present = new Set(r.engine.inventory().layers.map((l) => l.layerId));
  for (const [layerId, content] of m.frozen) {
    if (!present.has(layerId)) {
      m.frozen.delete(layerId);
      continue;
    }
    const actual = await r.engine.read({
      target: { layerId },
      offsetBytes: 0,
      lengthBytes: CAPACITY,
    });
    if (!actual.equals(content)) throw new Error(`frozen layer ${layerId} differs from the model`);
  }
}

const op = (m: Model, what: string) => `${what}-${m.next++}`;

/** Of these disks, those whose top layer holds data of its own (a merge that moves bytes), if any. */
async function holdingOwnData(r: Real, ids: string[]): Promise<string[]> {
  const holding = [];
  for (const id of ids) {
    const map = await r.engine.blockMap({ target: { diskId: id } });
    if (map.bytesPerLayer[0].mappedBytes > 0 && map.bytesPerLayer.length > 1) holding.push(id);
  }
  return holding.length ? holding : ids;
}

/** Disks that stand on something, when there are any: merging and materialising need a layer below. */
function disksWithBacking(m: Model, r: Real): string[] {
  const { layers, disks } = r.engine.inventory();
  const backed = new Set(layers.filter((l) => l.backingLayerId !== null).map((l) => l.layerId));
  const ids = diskIds(m).filter((id) => backed.has(disks.find((d) => d.diskId === id)!.topLayerId));
  return ids.length ? ids : diskIds(m);
}

class CreateDisk implements Command {
  constructor(readonly format: ProvisioningFormat) {}
  check = (m: Model) => m.disks.size < MAX_DISKS;
  async run(m: Model, r: Real) {
    const diskId = `d${m.next}`;
    await r.engine.createDisk({
      operationId: op(m, 'create'),
      datastoreId: 'ds1',
      diskId,
      format: this.format,
      capacityBytes: CAPACITY,
    });
    m.disks.set(diskId, { content: Buffer.alloc(CAPACITY), frozenTop: false });
    await expectDisk(m, r, diskId);
  }
  toString = () => `create(${this.format})`;
}

class Write implements Command {
  constructor(
    readonly disk: number,
    readonly block: number,
    readonly value: number,
    readonly keepOpen: boolean,
  ) {}
  check = (m: Model) => m.disks.size > 0;
  async run(m: Model, r: Real) {
    const diskId = pick(diskIds(m), this.disk);
    const disk = m.disks.get(diskId)!;
    const data = Buffer.alloc(BLOCK, this.value);
    if (disk.frozenTop) {
      await expectRefusal(
        r.engine.write({ diskId, offsetBytes: this.block * BLOCK, data }),
        'DISK.LAYER_FROZEN',
      );
      return;
    }
    const client = await clientFor(r, diskId);
    await client.write(this.block * BLOCK, data);
    await client.flush();
    data.copy(disk.content, this.block * BLOCK);
    if (!this.keepOpen) await powerOff(m, r, diskId);
    await expectDisk(m, r, diskId);
  }
  toString = () =>
    `write(${this.disk}, block ${this.block}, ${this.value}, ${this.keepOpen ? 'open' : 'close'})`;
}

class Snapshot implements Command {
  constructor(readonly disk: number) {}
  check = (m: Model) => m.disks.size > 0;
  async run(m: Model, r: Real) {
    const diskId = pick(diskIds(m), this.disk);
    const disk = m.disks.get(diskId)!;
    if (disk.frozenTop) {
      await expectRefusal(
        r.engine.snapshot({ operationId: op(m, 'snap'), diskId }),
        'DISK.LAYER_FROZEN',
      );
      return;
    }
    const result = await r.engine.snapshot({ operationId: op(m, 'snap'), diskId });
    m.frozen.set(result.frozenLayerId, Buffer.from(disk.content));
    await expectDisk(m, r, diskId);
  }
  toString = () => `snapshot(${this.disk})`;
}

class Freeze implements Command {
  constructor(readonly disk: number) {}
  check = (m: Model) => m.disks.size > 0;
  async run(m: Model, r: Real) {
    const diskId = pick(diskIds(m), this.disk);
    const disk = m.disks.get(diskId)!;
    if (r.clients.has(diskId)) {
      await expectRefusal(r.engine.freeze({ operationId: op(m, 'freeze'), diskId }), 'DISK.IN_USE');
      return;
    }
    await r.engine.freeze({ operationId: op(m, 'freeze'), diskId });
    disk.frozenTop = true;
    const top = r.engine.inventory().disks.find((d) => d.diskId === diskId)!.topLayerId;
    m.frozen.set(top, Buffer.from(disk.content));
  }
  toString = () => `freeze(${this.disk})`;
}

class LinkedClone implements Command {
  constructor(readonly layer: number) {}
  check = (m: Model) => m.frozen.size > 0 && m.disks.size < MAX_DISKS;
  async run(m: Model, r: Real) {
    await expectFrozen(m, r);
    if (m.frozen.size === 0) return;
    const layerId = pick([...m.frozen.keys()], this.layer);
    const diskId = `d${m.next}`;
    await r.engine.linkedClone({ operationId: op(m, 'linked'), source: { layerId }, diskId });
    m.disks.set(diskId, { content: Buffer.from(m.frozen.get(layerId)!), frozenTop: false });
    await expectDisk(m, r, diskId);
  }
  toString = () => `linkedClone(layer ${this.layer})`;
}

class FullClone implements Command {
  constructor(
    readonly source: number,
    readonly fromFrozen: boolean,
    readonly format: ProvisioningFormat | 'same',
  ) {}
  check = (m: Model) => m.disks.size > 0 && m.disks.size < MAX_DISKS;
  async run(m: Model, r: Real) {
    await expectFrozen(m, r);
    const fromLayer = this.fromFrozen && m.frozen.size > 0;
    const layerId = fromLayer ? pick([...m.frozen.keys()], this.source) : undefined;
    const sourceDisk = pick(diskIds(m), this.source);
    const content = layerId ? m.frozen.get(layerId)! : m.disks.get(sourceDisk)!.content;
    const diskId = `d${m.next}`;
    await r.engine.fullClone({
      operationId: op(m, 'full'),
      source: layerId ? { layerId } : { diskId: sourceDisk },
      diskId,
      datastoreId: 'ds1',
      format: this.format,
    });
    m.disks.set(diskId, { content: Buffer.from(content), frozenTop: false });
    await expectDisk(m, r, diskId);
  }
  toString = () =>
    `fullClone(${this.source}, ${this.fromFrozen ? 'frozen layer' : 'disk'}, ${this.format})`;
}

class Consolidate implements Command {
  constructor(readonly disk: number) {}
  check = (m: Model) => m.disks.size > 0;
  async run(m: Model, r: Real) {
    const diskId = pick(await holdingOwnData(r, disksWithBacking(m, r)), this.disk);
    await powerOff(m, r, diskId);
    await allowing(
      'consolidate',
      r.engine.consolidate({ operationId: op(m, 'merge'), target: { diskId } }),
      ['DISK.LAYER_SHARED', 'DISK.NO_BACKING', 'DISK.IN_USE'],
    );
    await expectDisk(m, r, diskId);
    await expectFrozen(m, r);
  }
  toString = () => `consolidate(${this.disk})`;
}

class Materialise implements Command {
  constructor(
    readonly disk: number,
    readonly release: number,
  ) {}
  check = (m: Model) => m.disks.size > 0;
  async run(m: Model, r: Real) {
    const diskId = pick(disksWithBacking(m, r), this.disk);
    const { layers, disks } = r.engine.inventory();
    const byId = new Map(layers.map((l) => [l.layerId, l]));
    const chain: string[] = [];
    for (
      let id: string | null = disks.find((d) => d.diskId === diskId)!.topLayerId;
      id;
      id = byId.get(id)!.backingLayerId
    )
      chain.push(id);
    // One of the layers below, or (the last choice) none: flatten.
    const below = chain.slice(1);
    const releaseLayerId =
      below.length && this.release % (below.length + 1) < below.length
        ? below[this.release % (below.length + 1)]
        : null;
    await allowing(
      'materialise',
      r.engine.materialise({
        operationId: op(m, 'materialise'),
        target: { diskId },
        releaseLayerId,
      }),
      ['DISK.IN_USE'],
    );
    await expectDisk(m, r, diskId);
    await expectFrozen(m, r);
  }
  toString = () => `materialise(${this.disk}, ${this.release})`;
}

class Fork implements Command {
  constructor(readonly disk: number) {}
  check = (m: Model) => m.disks.size > 0 && m.disks.size < MAX_DISKS;
  async run(m: Model, r: Real) {
    const sourceId = pick(diskIds(m), this.disk);
    const source = m.disks.get(sourceId)!;
    const diskId = `d${m.next}`;
    await closeClient(r, sourceId); // the parent's writable export goes when it is frozen
    const result = await r.engine.fork({
      operationId: op(m, 'fork'),
      sources: [{ diskId: sourceId, newDiskId: diskId }],
    });
    const parentTop = r.engine.inventory().disks.find((d) => d.diskId === sourceId)!.topLayerId;
    source.frozenTop = true;
    m.frozen.set(parentTop, Buffer.from(source.content));
    m.disks.set(diskId, { content: Buffer.from(source.content), frozenTop: false });
    await clientFor(r, diskId, result.forks[0].export);
    await expectDisk(m, r, diskId);
  }
  toString = () => `fork(${this.disk})`;
}

class Delete implements Command {
  constructor(readonly disk: number) {}
  check = (m: Model) => m.disks.size > 0;
  async run(m: Model, r: Real) {
    const diskId = pick(diskIds(m), this.disk);
    await closeClient(r, diskId);
    await r.engine.deleteDisk({ operationId: op(m, 'delete'), diskId });
    m.disks.delete(diskId);
    await expectFrozen(m, r);
    for (const id of m.disks.keys()) await expectDisk(m, r, id);
  }
  toString = () => `delete(${this.disk})`;
}

const index = fc.nat({ max: 64 });
const format = fc.constantFrom<ProvisioningFormat>(
  'thin',
  'thin',
  'thick-lazy-zeroed',
  'thick-eager-zeroed',
);
const write = fc
  .tuple(index, fc.nat({ max: BLOCKS - 1 }), fc.integer({ min: 1, max: 255 }), fc.boolean())
  .map(([d, b, v, k]) => new Write(d, b, v, k));
// Writes three times as often as the rest: most operations only tell something about data.
const commands = [
  format.map((f) => new CreateDisk(f)),
  write,
  write,
  write,
  index.map((d) => new Snapshot(d)),
  index.map((d) => new Freeze(d)),
  index.map((l) => new LinkedClone(l)),
  fc
    .tuple(
      index,
      fc.boolean(),
      fc.constantFrom<ProvisioningFormat | 'same'>('same', 'thin', 'thick-lazy-zeroed'),
    )
    .map(([s, f, t]) => new FullClone(s, f, t)),
  index.map((d) => new Consolidate(d)),
  fc.tuple(index, index).map(([d, k]) => new Materialise(d, k)),
  index.map((d) => new Fork(d)),
  index.map((d) => new Delete(d)),
];

it(`every disk and every frozen layer reads as a plain in-memory model says (${RUNS} runs of up to ${COMMANDS} commands)`, async () => {
  await fc.assert(
    fc.asyncProperty(
      // fast-check starts small; sequences shorter than half the length would mostly test setup.
      fc
        .commands(commands, { maxCommands: COMMANDS, size: 'max' })
        .filter((c) => [...c].length >= COMMANDS / 2),
      async (cmds) => {
        const box: Sandbox = await sandbox('mbt');
        const engine = await startEngine(box);
        const real: Real = { engine, clients: new Map() };
        const model: Model = { disks: new Map(), frozen: new Map(), next: 1 };
        try {
          // Two disks to start from, so that every command applies from the first one on.
          for (const f of ['thin', 'thick-lazy-zeroed'] as const)
            await new CreateDisk(f).run(model, real);
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          for (const [name] of String(cmds).matchAll(/\w+(?=\()/g)) count(`ran ${name}`);
          for (const diskId of model.disks.keys()) await expectDisk(model, real, diskId);
          await expectFrozen(model, real);
          for (const diskId of [...real.clients.keys()]) await closeClient(real, diskId);
          const report = await engine.check({ operationId: 'final-check', repair: false });
          if (!report.clean) throw new Error(`check found ${JSON.stringify(report.findings)}`);
        } finally {
          for (const client of real.clients.values()) await client.close().catch(() => undefined);
          await engine.stop().catch(() => undefined);
          await box.cleanup();
        }
      },
    ),
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );
});
