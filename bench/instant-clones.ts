/**
 * npm run bench:instant-clones: instant clones (forks of a running VM) and desktop pools through
 * the whole of Dolly (HTTP → event store → Kafka → worker → storage daemon → events → projector
 * → read model), against bare QEMU on the same files in the same run:
 *  1. fork latency: command sent → the clone reads, in the VM read model, as powered on, ready,
 *     with its disk and memory image exported over NBD (the POST answered with Prefer: wait, or
 *     polled past it), one fork at a time from one running parent; against the floor, the two
 *     overlays a fork needs (disk over the parent's frozen disk layer, memory image over its
 *     frozen memory image) made by hand: `qemu-img create -b` + fsync, both at once;
 *  2. clones per second with 1 and 2 workers: a pool told to make N spares at once (PATCH), and
 *     N forks sent 8 at a time through the API. A running parent lives in one worker's storage
 *     daemon, so every fork of it runs on that worker: the 2-worker runs use two parents (two
 *     pools), one per worker, each on a datastore only its worker serves. The floor: the same
 *     overlay pairs by hand, as many at a time as the workers run jobs (3 each);
 *  3. bytes per clone until it writes (allocated blocks of its disk overlay and memory overlay)
 *     with two golden images, 64 MiB and 1 GiB of data (and memory), against a bare overlay pair;
 *     then what one clone's first 1 MiB write adds;
 *  4. a pool of 200 on this machine: on demand, 10 spares; 50 users ask at once (distinct), each
 *     must get one desktop no one else has, and the spares come back; then 150 more users fill it
 *     to 200; then the pool is deleted (teardown time).
 * Each phase (and each throughput run) has workers, datastores and golden images of its own, so
 * none starts on a daemon holding another's clones, nor on streams another lengthened (every
 * decision reads its streams whole: see `streams` in the results). A phase's workers stop at its
 * end, their storage daemons (and the clones in them) with them: a fork made through the API
 * cannot be deleted (see `standaloneCloneDeletion`), and pools are deleted through the API.
 *
 * BENCH_IC_FORKS (default 100) sequential forks; BENCH_IC_SIZE_FORKS (20) forks of the large
 * image; BENCH_IC_BURST (100) clones per parent in each throughput run; BENCH_IC_API_CONCURRENCY
 * (8) forks sent at once per parent; BENCH_IC_POOL_MAX (200), BENCH_IC_POOL_SPARES (10) and
 * BENCH_IC_RUSH_USERS (50) for the pool of phase 4.
 */
import { readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import {
  type Accepted,
  GiB,
  MiB,
  registerDatastore,
  registerHost,
  vmDefinition,
} from '../test/support/inventory';
import {
  allocatedBytes,
  images,
  layerFile,
  qemuImgInfo,
  qemuIo,
  reads,
} from '../test/support/disks';
import { type Desktop, type Pool } from '../test/support/pools';
import { type Vm } from '../test/support/vms';
import { bareOverlay, exec } from './bare-qemu';
import { BenchWorker } from './bench-workers';
import { deviceOf, underLoad } from './host-load';
import { report, round, summarise } from './support';
import {
  Bench,
  runBenchmark,
  type Done,
  type VmDone,
  lanes,
  latency,
  loadSummary,
  log,
  medianTimeline,
  now,
  settle,
  sleep,
  split,
} from './timed-commands';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const FORKS = env('BENCH_IC_FORKS', 100);
const SIZE_FORKS = env('BENCH_IC_SIZE_FORKS', 20);
const BURST = env('BENCH_IC_BURST', 100);
const API_CONCURRENCY = env('BENCH_IC_API_CONCURRENCY', 8);
const POOL_MAX = env('BENCH_IC_POOL_MAX', 200);
const POOL_SPARES = env('BENCH_IC_POOL_SPARES', 10);
const RUSH_USERS = env('BENCH_IC_RUSH_USERS', 50);
/** Jobs one worker runs at once (DOLLY_WORKER_CONCURRENT_JOBS, 3 by default): the bare lanes. */
const WORKER_JOBS = env('DOLLY_WORKER_CONCURRENT_JOBS', 3);
const WARM_UP_FORKS = 3;
/** Longest a pool may take to reach what was asked before the run is recorded as timed out. */
const POOL_TIMEOUT_MS = 300_000;
const GOALS = { forkP99Ms: 100, clonesPerSecond: 50 };

/** The golden images: data written on the disk, the same amount in the parent's memory image. */
const IMAGES = {
  small: { capacityBytes: 256 * MiB, dataBytes: 64 * MiB, memoryBytes: 64 * MiB },
  large: { capacityBytes: 2 * GiB, dataBytes: GiB, memoryBytes: GiB },
} as const;
type ImageSize = keyof typeof IMAGES;
const DISK_PATTERN = 0x11;
const MEMORY_PATTERN = 0x2a;

interface Datastore {
  datastoreId: string;
  folder: string;
}

/** A worker and the one datastore it serves (two workers must not write one: bench-workers.ts). */
interface Site {
  worker: BenchWorker;
  datastore: Datastore;
}

/** A golden image: a VM whose disk holds the data, snapshotted. */
interface Golden {
  size: ImageSize;
  vmId: string;
  snapshotId: string;
  datastore: Datastore;
}

/** A running parent to fork from: a linked clone of a golden image's snapshot, powered on. */
interface Parent {
  vmId: string;
  golden: Golden;
}

/** The files a fork made: its disk overlay and its memory overlay, and what they take. */
interface CloneFiles {
  diskFile: string;
  memoryFile: string | null;
  /** Files the fork added beside those two (none expected). */
  otherNewFiles: number;
  diskAllocatedBytes: number;
  memoryAllocatedBytes: number;
  diskApparentBytes: number;
  memoryApparentBytes: number;
}

/** The files a fork's overlays stand on: the parent's frozen disk layer and memory image. */
interface Bases {
  disk: string;
  memory: string;
}

type Latency = ReturnType<typeof latency>;
type LoadSummary = ReturnType<typeof loadSummary>;

interface ThroughputRun {
  how: string;
  workers: number;
  parents: number;
  clones: number;
  succeeded: number;
  failed: number;
  wallMs: number;
  clonesPerSecond: number;
  clonesPerWorker: Record<string, number>;
  load: LoadSummary;
  [more: string]: unknown;
}

interface BareFloor {
  workers: number;
  concurrency: number;
  pairs: number;
  wallMs: number;
  pairsPerSecond: number;
  pairMs: Latency;
  cpuMsPerPair: number;
  load: LoadSummary;
}

/** One user's entitlement request: the answer, and the desktop it named. */
interface Entitled {
  userId: string;
  status: number;
  code: string | null;
  desktop: Desktop | null;
  sentAt: number;
  answerMs: number;
}

interface Teardown {
  gone: boolean;
  ms: number;
  countsWhenGivenUp?: Pool['counts'];
  lifecycle?: string;
}

interface PoolAtScale {
  maxMachines: number;
  spareMachines: number;
  /** Push image rolled through every desktop: each user logs off and comes back to the new image. */
  push?: Audit & {
    imageBuiltMs: number;
    users: number;
    rolledThroughMs: number;
    desktopsPerSecond: number;
    logoffAnswerMs: Latency;
    logoffRefusals: string[];
    timedOut: boolean;
    countsAfter: Pool['counts'] | undefined;
    load: LoadSummary;
  };
  imageBuiltMs?: number;
  sparesReadyAfterCreateMs?: number;
  rush?: Audit & {
    users: number;
    answerMs: Latency;
    allAnsweredMs: number;
    answerGapMsByFifth: number[];
    userToRunningDesktopMs: Latency;
    allDesktopsReadyAndSparesBackMs: number;
    timedOut: boolean;
    desktopsRunningWithExports: number;
    countsAfter: Pool['counts'] | undefined;
    sparesKeptAt: number | undefined;
    load: LoadSummary;
  };
  fill?: {
    users: number;
    machinesBefore: number;
    machinesAfter: number | undefined;
    forked: number;
    wallMs: number;
    clonesPerSecond: number;
    allAnsweredMs: number;
    answerGapMsByFifth: number[];
    answerMs: Latency;
    userToRunningDesktopMs: Latency;
    timedOut: boolean;
    countsAfter: Pool['counts'] | undefined;
    load: LoadSummary;
  };
  allUsers?: Audit & { users: number };
  forkTasks?: Record<string, unknown>;
  streams?: Record<string, number>;
  teardown?: Teardown;
  error?: string;
}

/** How many of each: workers, statuses. */
function tally(keys: (string | null)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const key of keys) counts[key ?? 'none'] = (counts[key ?? 'none'] ?? 0) + 1;
  return counts;
}

type Audit = ReturnType<typeof audit>;
/** Every user on exactly one machine, the one they were answered with; no machine shared. */
function audit(seen: Pool, entitled: Entitled[]) {
  const holders = new Map<string, number>();
  for (const m of seen.machines)
    if (m.userId) holders.set(m.userId, (holders.get(m.userId) ?? 0) + 1);
  const given = entitled.flatMap((e) => (e.desktop ? [e.desktop.vmId] : []));
  return {
    answered: entitled.filter((e) => e.desktop && [200, 202].includes(e.status)).length,
    statuses: tally(entitled.map((e) => String(e.status))),
    refusals: [...new Set(entitled.flatMap((e) => (e.code ? [e.code] : [])))],
    distinctDesktopsGiven: new Set(given).size,
    usersOnExactlyOneMachine: entitled.filter((e) => holders.get(e.userId) === 1).length,
    usersOnTheMachineTheyWereGiven: entitled.filter((e) =>
      seen.machines.some((m) => m.userId === e.userId && m.vmId === e.desktop?.vmId),
    ).length,
    machinesWithAUser: seen.machines.filter((m) => m.userId !== null).length,
  };
}

/** Request sent → the user's desktop runs: at the answer for a ready spare, else when seen ready. */
function toDesktopMs(entitled: Entitled[], readyAt: Map<string, number>): number[] {
  return entitled.flatMap((e) => {
    if (!e.desktop) return [];
    if (e.desktop.status === 'ready') return [e.answerMs];
    const at = readyAt.get(e.desktop.vmId);
    return at === undefined ? [] : [at - e.sentAt];
  });
}

/**
 * CPU milliseconds Dolly's processes used (apps, storage daemons, the Kafka broker; not
 * PostgreSQL, which runs apart), and the bare side's (the benchmark's qemu-img and sync children).
 */
function cpuSplit(load: LoadSummary) {
  const byLabel = load.processTreeCpuMsByLabel ?? {};
  const sum = (labels: string[]) =>
    labels.reduce((total, label) => total + (byLabel[label] ?? 0), 0);
  return {
    dolly: sum(['api', 'projector', 'worker', 'worker children', 'qemu-storage-daemon', 'java']),
    bare: sum(['bench children']),
  };
}

/** Medians of consecutive fifths of a series: whether it grows as the run goes on. */
function byFifth(samples: number[]): number[] {
  const size = Math.max(1, Math.ceil(samples.length / 5));
  const fifths: number[] = [];
  for (let i = 0; i < samples.length; i += size)
    fifths.push(round(summarise(samples.slice(i, i + size)).p50));
  return fifths;
}

/** A clone counts as forked once it runs and its disk and memory image are exported. */
const forked: VmDone = (vm) =>
  vm.lifecycle === 'ready' &&
  vm.powerState === 'poweredOn' &&
  (vm.live?.exports.length ?? 0) > 0 &&
  Boolean(vm.live?.memoryImage?.uri);

const bytesSummary = (samples: number[]) => {
  const s = summarise(samples);
  return { p50: s.p50, max: s.max, mean: round(s.mean) };
};

/** Bytes the files under a folder take (blocks), the engine's metadata included. */
function folderAllocatedBytes(folder: string): number {
  let total = 0;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    total += entry.isDirectory() ? folderAllocatedBytes(path) : allocatedBytes(path);
  }
  return total;
}

/** Writes `bytes` of a pattern from offset 0 through an NBD export, 64 MiB per request. */
async function fill(uri: string, pattern: number, bytes: number): Promise<void> {
  const chunk = Math.min(bytes, 64 * MiB);
  const writes = Array.from(
    { length: bytes / chunk },
    (_, i) => `write -P ${pattern} ${i * chunk} ${chunk}`,
  );
  await qemuIo(uri, ...writes);
}

runBenchmark(async (stack, workers) => {
  const loadBefore = loadavg();
  const startedAt = performance.now();
  const bench = new Bench(stack);
  const hostId = await registerHost(stack);
  /** A new datastore and a worker serving only it. */
  const site = async (instance: string): Promise<Site> => {
    const folder = stack.datastoreFolder();
    // Every clone promises its disk's capacity (thin, overcommit × 1): room for thousands.
    const capacityBytes = 64 * 1024 * GiB;
    const datastoreId = await registerDatastore(stack, { folder, capacityBytes });
    const worker = await BenchWorker.start(stack, instance, [datastoreId]);
    workers.push(worker);
    return { worker, datastore: { datastoreId, folder } };
  };
  /** Stops a phase's worker: its daemon, and the clones running in it, stop too. */
  const retire = async (...sites: Site[]) => {
    for (const { worker } of sites) {
      workers.splice(workers.indexOf(worker), 1);
      await worker.stop();
    }
  };

  // -------------------------------------------------------------- helpers on the stack
  const streamLength = async (type: string, id: string) =>
    Number(
      (
        await stack.database.pool.query<{ count: string }>(
          'SELECT count(*) FROM event_store.events WHERE stream_id = $1',
          [`${type}-${id}`],
        )
      ).rows[0].count,
    );
  const pool = async (poolId: string): Promise<Pool | null> => {
    const answer = await stack.request<Pool>('GET', `/pools/${poolId}`);
    if (answer.status === 404) return null;
    if (answer.status !== 200)
      throw new Error(`GET /pools/${poolId}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  /**
   * Polls a pool until `test` holds (or the timeout), noting when each machine was first seen
   * ready: the read model's view, to the polling interval (100 ms, to spare the API's CPU).
   */
  const watchPool = async (
    poolId: string,
    test: (p: Pool) => boolean,
    timeoutMs = POOL_TIMEOUT_MS,
  ) => {
    const readyAt = new Map<string, number>();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = await pool(poolId);
      const at = now();
      for (const m of seen?.machines ?? [])
        if (m.status === 'ready' && !readyAt.has(m.vmId)) readyAt.set(m.vmId, at);
      if (seen && test(seen)) return { pool: seen, doneAt: at, readyAt, timedOut: false };
      if (Date.now() > deadline) return { pool: seen, doneAt: at, readyAt, timedOut: true };
      await sleep(100);
    }
  };
  const createPool = async (golden: Golden, settings: Record<string, unknown>) => {
    const sent = now();
    const answer = await bench.send<Accepted>('POST', '/pools', {
      hostId,
      datastoreId: golden.datastore.datastoreId,
      goldenVmId: golden.vmId,
      snapshotId: golden.snapshotId,
      ...settings,
    });
    if (answer.status !== 201 && answer.status !== 202)
      throw new Error(`POST /pools: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
    const poolId = answer.body.target.id;
    const built = await watchPool(poolId, (p) => p.imageStatus !== 'building');
    if (built.pool?.imageStatus !== 'published')
      throw new Error(`pool ${poolId}: image ${built.pool?.imageStatus ?? 'gone'}`);
    return { poolId, sentAt: sent, imageBuiltMs: round(built.doneAt - sent), pool: built.pool };
  };
  const poolSettings = (name: string, maxMachines: number, spareMachines: number) => ({
    name,
    namingPattern: `${name}-{n:fixed=3}`,
    maxMachines,
    spareMachines,
    provisioning: 'on-demand',
    assignment: 'floating',
  });
  /** Deletes a pool and waits until it is gone: its machines, parent, replica and template. */
  const deletePool = async (poolId: string): Promise<Teardown> => {
    const sent = now();
    const answer = await bench.send('DELETE', `/pools/${poolId}`, undefined, {});
    if (answer.status !== 202)
      throw new Error(
        `DELETE /pools/${poolId}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`,
      );
    const deadline = Date.now() + POOL_TIMEOUT_MS;
    let last = await pool(poolId);
    while (last !== null && Date.now() < deadline) {
      await sleep(200);
      last = await pool(poolId);
    }
    return {
      gone: last === null,
      ms: round(now() - sent),
      ...(last ? { countsWhenGivenUp: last.counts, lifecycle: last.lifecycle } : {}),
    };
  };
  /** The worker holding a running VM (its read model may trail its pool's: it is waited for). */
  const liveOn = async (vmId: string) => {
    for (let i = 0; i < 100; i++) {
      const vm = await bench.vm(vmId);
      if (vm.live) return vm.live.workerId;
      await sleep(100);
    }
    return null;
  };
  /**
   * What Dolly's processes cost doing nothing (consumers polling, heartbeats, scans), CPU ms a
   * second over 3 s: set apart from the CPU a run's clones cost.
   */
  const idleDollyCpu = async () => {
    const idle = await underLoad(null, () => sleep(3000));
    return round(cpuSplit(loadSummary(idle.load)).dolly / 3);
  };
  /** CPU ms per clone of a run, and the same without what the stack costs idle meanwhile. */
  const cpuPerClone = (load: LoadSummary, wallMs: number, clones: number) => {
    const dolly = cpuSplit(load).dolly;
    return {
      dollyCpuMsPerClone: round(dolly / Math.max(1, clones)),
      dollyCpuMsPerCloneBeyondIdle: round(
        (dolly - (idleCpuMsPerSecond * wallMs) / 1000) / Math.max(1, clones),
      ),
      idleDollyCpuMsPerSecond: idleCpuMsPerSecond,
    };
  };
  /** The fork tasks of a pool, in the order they were queued, from their events. */
  const forkTasks = async (poolId: string) => {
    const { rows } = await stack.database.pool.query<{
      queued: number;
      started: number | null;
      succeeded: number | null;
      failed: boolean;
      worker: string | null;
    }>(
      `SELECT extract(epoch FROM q.recorded_at) * 1000 AS queued,
                (SELECT extract(epoch FROM recorded_at) * 1000 FROM event_store.events
                  WHERE stream_id = q.stream_id AND type = 'TaskStarted'
                  ORDER BY stream_version LIMIT 1) AS started,
                (SELECT extract(epoch FROM recorded_at) * 1000 FROM event_store.events
                  WHERE stream_id = q.stream_id AND type = 'TaskSucceeded' LIMIT 1) AS succeeded,
                EXISTS (SELECT 1 FROM event_store.events WHERE stream_id = q.stream_id
                  AND type IN ('TaskFailed', 'TaskCancelled')) AS failed,
                (SELECT data->>'workerId' FROM event_store.events
                  WHERE stream_id = q.stream_id AND type = 'TaskStarted'
                  ORDER BY stream_version DESC LIMIT 1) AS worker
           FROM event_store.events q
          WHERE q.type = 'TaskQueued' AND q.data->'job'->>'kind' = 'fork'
            AND q.data->'job'->>'poolId' = $1
          ORDER BY q.global_position`,
      [poolId],
    );
    return rows.map((r) => ({
      queued: Number(r.queued),
      started: r.started === null ? null : Number(r.started),
      succeeded: r.succeeded === null ? null : Number(r.succeeded),
      failed: r.failed,
      worker: r.worker,
    }));
  };
  type ForkTask = Awaited<ReturnType<typeof forkTasks>>[number];
  const succeededTasks = (tasks: ForkTask[]) =>
    tasks.filter(
      (t): t is ForkTask & { started: number; succeeded: number } =>
        t.succeeded !== null && t.started !== null,
    );

  /** A golden image: a VM with one thin disk holding the data, powered off, snapshotted. */
  const goldenOf = async (size: ImageSize, where: Datastore, name: string): Promise<Golden> => {
    const image = IMAGES[size];
    const definition = vmDefinition(hostId, where.datastoreId, `golden-${name}`, [
      { capacityBytes: image.capacityBytes, format: 'thin' },
    ]);
    definition.hardware.memoryBytes = image.memoryBytes;
    const golden = await bench.command('POST', '/vms', definition);
    const on = await bench.command('POST', `/vms/${golden.vmId}/power-on`);
    await fill(on.vm!.live!.exports[0].uri, DISK_PATTERN, image.dataBytes);
    await bench.command('POST', `/vms/${golden.vmId}/power-off`);
    const snapped = await bench.command('POST', `/vms/${golden.vmId}/snapshots`, { name: 'v1' });
    const snapshotId = snapped.vm!.currentSnapshotId!;
    return { size, vmId: golden.vmId, snapshotId, datastore: where };
  };
  /** A parent as a pool makes one: a linked clone of the snapshot, running, memory written. */
  const parentOf = async (golden: Golden, name: string): Promise<Parent> => {
    const parent = await bench.command('POST', `/vms/${golden.vmId}/clone`, {
      name: `parent-${name}`,
      linked: true,
      snapshotId: golden.snapshotId,
    });
    const running = await bench.command('POST', `/vms/${parent.vmId}/power-on`);
    await fill(running.vm!.live!.memoryImage.uri, MEMORY_PATTERN, IMAGES[golden.size].memoryBytes);
    return { vmId: parent.vmId, golden };
  };
  const fork = (parent: Parent, name: string) =>
    bench.command('POST', `/vms/${parent.vmId}/instant-clone`, { name }, forked);
  /** A fork and the files it made (the folder listed before and after; not timed). */
  const forkWithFiles = async (parent: Parent, name: string) => {
    const folder = parent.golden.datastore.folder;
    const before = new Set(images(folder));
    const done = await fork(parent, name);
    const diskFile = layerFile(folder, done.layerId!);
    const added = images(folder)
      .filter((n) => !before.has(n))
      .map((n) => join(folder, n));
    const others = added.filter((f) => f !== diskFile);
    const memoryFile = others.length === 1 ? others[0] : null;
    const files: CloneFiles = {
      diskFile,
      memoryFile,
      otherNewFiles: Math.max(0, others.length - 1),
      diskAllocatedBytes: allocatedBytes(diskFile),
      memoryAllocatedBytes: memoryFile ? allocatedBytes(memoryFile) : NaN,
      diskApparentBytes: statSync(diskFile).size,
      memoryApparentBytes: memoryFile ? statSync(memoryFile).size : NaN,
    };
    return { done, files };
  };
  /** Whether a clone's exports serve the parent's data (disk and memory), over NBD. */
  const servesParent = async (vm: Vm) =>
    (await reads(vm.live!.exports[0].uri, DISK_PATTERN, 0, MiB)) &&
    (await reads(vm.live!.memoryImage.uri, MEMORY_PATTERN, 0, MiB));
  const basesOf = async (files: CloneFiles): Promise<Bases> => ({
    disk: (await qemuImgInfo(files.diskFile))['backing-filename']!,
    memory: (await qemuImgInfo(files.memoryFile!))['backing-filename']!,
  });
  /** The overlays a fork makes, by hand: disk and memory at once, each created and synced. */
  let bareCount = 0;
  const barePair = async (folder: string, bases: Bases) => {
    const k = bareCount++;
    const names = [`bare-ic-${k}-disk.qcow2`, `bare-ic-${k}-memory.qcow2`];
    const start = performance.now();
    const [disk, memory] = await Promise.all([
      bareOverlay(folder, bases.disk, names[0]),
      bareOverlay(folder, bases.memory, names[1]),
    ]);
    const wallMs = performance.now() - start;
    const bytes = names.map((n) => allocatedBytes(join(folder, n)));
    await Promise.all(names.map((n) => rm(join(folder, n))));
    return { wallMs, disk, memory, allocatedBytes: bytes[0] + bytes[1] };
  };

  // ------------------------------------------------------------ 1. fork latency
  log(`phase 1: golden image (small) and its running parent`);
  const first = await site('w1');
  const device = deviceOf(first.datastore.folder);
  const folder = first.datastore.folder;
  const smallGolden = await goldenOf('small', first.datastore, 'small');
  const small = await parentOf(smallGolden, 'small');
  let idleCpuMsPerSecond = await idleDollyCpu();
  const phase1IdleCpuMsPerSecond = idleCpuMsPerSecond;
  log(`phase 1: ${WARM_UP_FORKS} warm-up forks, then ${FORKS} forks one at a time, vs bare`);
  const warm = [];
  for (let i = 0; i < WARM_UP_FORKS; i++) warm.push(await forkWithFiles(small, `warm-${i}`));
  const smallBases = await basesOf(warm[0].files);
  await barePair(folder, smallBases);
  const folderBefore = folderAllocatedBytes(folder);
  const forks: Awaited<ReturnType<typeof forkWithFiles>>[] = [];
  const bare: Awaited<ReturnType<typeof barePair>>[] = [];
  const sequential = await underLoad(device, async () => {
    for (let i = 0; i < FORKS; i++) {
      const ours = async () => forks.push(await forkWithFiles(small, `ic-${i}`));
      const theirs = async () => bare.push(await barePair(folder, smallBases));
      // Alternating who goes first, so that neither always meets the other's dirty pages.
      for (const run of i % 2 ? [theirs, ours] : [ours, theirs]) await run();
    }
  });
  const folderGrowthPerClone = (folderAllocatedBytes(folder) - folderBefore) / FORKS;
  const traced = await bench.traced(first.worker, () => fork(small, 'ic-traced'));
  // Not timed: every tenth clone reads as the parent through its own exports.
  const checked = forks.filter((_, i) => i % 10 === 0);
  let serving = 0;
  for (const f of checked) if (await servesParent(f.done.vm!)) serving++;
  const forkMs = latency(forks.map((f) => f.done.totalMs));
  const forkTaskSucceededMs = latency(
    forks.map((f) => f.done.totalMs - f.done.timeline.toReadModelMs),
  );
  const bareMsAll = latency(bare.map((b) => b.wallMs));
  const bareNoSyncMs = latency(bare.map((b) => Math.max(b.disk.writeMs, b.memory.writeMs)));
  const phase1Streams = {
    parentEvents: await streamLength('vm', small.vmId),
    goldenEvents: await streamLength('vm', smallGolden.vmId),
    datastoreEvents: await streamLength('datastore', first.datastore.datastoreId),
  };

  // ------------------------------------------------------------ 3. bytes per clone
  log(`phase 3: golden image (large: 1 GiB data, 1 GiB memory), ${SIZE_FORKS} forks`);
  const largeGolden = await goldenOf('large', first.datastore, 'large');
  const large = await parentOf(largeGolden, 'large');
  const largeForks = [];
  for (let i = 0; i < SIZE_FORKS; i++) largeForks.push(await forkWithFiles(large, `icl-${i}`));
  const bareLarge = await barePair(folder, await basesOf(largeForks[0].files));
  let largeServing = 0;
  for (const f of largeForks.slice(0, 3)) if (await servesParent(f.done.vm!)) largeServing++;
  const perClone = (list: { files: CloneFiles }[], bareBytes: number) => {
    const total = list.map((f) => f.files.diskAllocatedBytes + f.files.memoryAllocatedBytes);
    return {
      clones: list.length,
      diskOverlayAllocatedBytes: bytesSummary(list.map((f) => f.files.diskAllocatedBytes)),
      memoryOverlayAllocatedBytes: bytesSummary(list.map((f) => f.files.memoryAllocatedBytes)),
      totalAllocatedBytes: bytesSummary(total),
      apparentBytes: {
        disk: list[0].files.diskApparentBytes,
        memory: list[0].files.memoryApparentBytes,
      },
      memoryOverlayFound: list.filter((f) => f.files.memoryFile !== null).length,
      otherNewFiles: list.reduce((a, f) => a + f.files.otherNewFiles, 0),
      bareOverlayPairAllocatedBytes: bareBytes,
      ratioToBare: round(summarise(total).p50 / bareBytes, 3),
    };
  };
  // What a clone's first write adds: 1 MiB on its disk, 1 MiB in its memory image.
  const firstWrite = async (f: { done: Done; files: CloneFiles }) => {
    const before = {
      disk: allocatedBytes(f.files.diskFile),
      memory: allocatedBytes(f.files.memoryFile!),
    };
    await qemuIo(f.done.vm!.live!.exports[0].uri, 'write -P 0x55 0 1M');
    await qemuIo(f.done.vm!.live!.memoryImage.uri, 'write -P 0x56 0 1M');
    await exec('sync', []);
    return {
      written: { diskBytes: MiB, memoryBytes: MiB },
      diskGrewBytes: allocatedBytes(f.files.diskFile) - before.disk,
      memoryGrewBytes: allocatedBytes(f.files.memoryFile!) - before.memory,
    };
  };
  const bytesPerClone = {
    small: {
      image: IMAGES.small,
      ...perClone(forks, bare[0].allocatedBytes),
      afterFirstWrite: await firstWrite(forks[0]),
      datastoreFolderGrowthPerCloneBytes: round(folderGrowthPerClone),
    },
    large: {
      image: IMAGES.large,
      ...perClone(largeForks, bareLarge.allocatedBytes),
      afterFirstWrite: await firstWrite(largeForks[0]),
      forkMs: latency(largeForks.map((f) => f.done.totalMs)),
      clonesServingParentData: `${largeServing} of ${Math.min(3, largeForks.length)}`,
    },
  };
  // How an operator would remove a fork made through the API: power off, delete.
  const offForDelete = await bench.command('POST', `/vms/${forks[1].done.vmId}/power-off`);
  const deleted = await bench.send('DELETE', `/vms/${offForDelete.vmId}`, undefined, {});
  const standaloneCloneDeletion = {
    vm: { role: offForDelete.vm?.role, origin: offForDelete.vm?.origin },
    powerOff: 'succeeded',
    deleteStatus: deleted.status,
    deleteAnswer: deleted.body,
  };
  await retire(first);

  // ------------------------------------------------------------ 2. clones per second
  const throughput: ThroughputRun[] = [];
  const bareFloors: BareFloor[] = [];
  const placement: Record<string, unknown> = {};
  const teardowns: Record<string, Teardown[]> = {};
  /** N forks from each parent, sent API_CONCURRENCY at a time per parent, all parents at once. */
  const apiBurst = async (parents: Parent[], tag: string) => {
    log(`phase 2: ${tag}: ${BURST} forks per parent, ${API_CONCURRENCY} at a time each`);
    const resentBefore = bench.resent();
    const run = await underLoad(device, () =>
      lanes(API_CONCURRENCY * parents.length, BURST * parents.length, (k) =>
        settle(fork(parents[k % parents.length], `${tag}-${k}`)),
      ),
    );
    const { done, failed, failureCodes } = split(run.result.results);
    throughput.push({
      how: `API: forks sent ${API_CONCURRENCY} at a time per parent`,
      workers: parents.length,
      parents: parents.length,
      clones: BURST * parents.length,
      succeeded: done.length,
      failed,
      failureCodes: [...new Set(failureCodes)],
      resent409: bench.resent() - resentBefore,
      wallMs: round(run.result.wallMs),
      clonesPerSecond: round(done.length / (run.result.wallMs / 1000), 2),
      forkMs: latency(done.map((d) => d.totalMs)),
      timelineMedianMs: medianTimeline(done),
      acceptMsByFifth: byFifth(done.map((d) => d.timeline.acceptMs)),
      clonesPerWorker: tally(done.map((d) => d.workerId)),
      parentEventsAfter: await Promise.all(parents.map((p) => streamLength('vm', p.vmId))),
      ...cpuPerClone(loadSummary(run.load), run.result.wallMs, done.length),
      load: loadSummary(run.load),
    });
  };
  /** Pools told to make `BURST` spares each at once; done when each shows them all ready. */
  const poolBurst = async (pools: { poolId: string }[]) => {
    log(`phase 2: ${pools.length} pool(s) making ${BURST} spares each at once`);
    const run = await underLoad(device, async () => {
      const sent = now();
      const edited = await Promise.all(
        pools.map((p) => bench.send('PATCH', `/pools/${p.poolId}`, { spareMachines: BURST }, {})),
      );
      for (const answer of edited)
        if (answer.status !== 200 && answer.status !== 202)
          throw new Error(`PATCH pool: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
      const watched = await Promise.all(
        pools.map((p) =>
          watchPool(
            p.poolId,
            (seen) => seen.counts.spares === BURST && seen.counts.provisioning === 0,
          ),
        ),
      );
      return { sent, watched };
    });
    const { sent, watched } = run.result;
    const tasks = (await Promise.all(pools.map((p) => forkTasks(p.poolId)))).flat();
    const ok = succeededTasks(tasks);
    const readyMs = watched.flatMap((w) => [...w.readyAt.values()].map((at) => at - sent));
    const wallMs = Math.max(...watched.map((w) => w.doneAt)) - sent;
    const ready = watched.reduce((a, w) => a + (w.pool?.counts.spares ?? 0), 0);
    const lastSucceeded = Math.max(...ok.map((t) => t.succeeded));
    throughput.push({
      how: `pool: PATCH spareMachines 0 → ${BURST}, one pool per worker`,
      workers: pools.length,
      parents: pools.length,
      clones: BURST * pools.length,
      succeeded: ready,
      failed: tasks.filter((t) => t.failed).length,
      timedOut: watched.some((w) => w.timedOut),
      wallMs: round(wallMs),
      clonesPerSecond: round(ready / (wallMs / 1000), 2),
      workerSideWallMs: round(lastSucceeded - sent),
      workerSideClonesPerSecond: round(ok.length / ((lastSucceeded - sent) / 1000), 2),
      sentToReadyMs: latency(readyMs),
      taskQueuedToSucceededMs: latency(ok.map((t) => t.succeeded - t.queued)),
      taskWorkMs: latency(ok.map((t) => t.succeeded - t.started)),
      clonesPerWorker: tally(tasks.map((t) => t.worker)),
      ...cpuPerClone(loadSummary(run.load), wallMs, ready),
      load: loadSummary(run.load),
    });
  };
  /** The floor: the same overlay pairs by hand, as many at a time as the workers run jobs. */
  const bareBurst = async (where: { folder: string; bases: Bases }[]): Promise<BareFloor> => {
    const count = BURST * where.length;
    const concurrency = WORKER_JOBS * where.length;
    const run = await underLoad(device, () =>
      lanes(concurrency, count, (k) =>
        barePair(where[k % where.length].folder, where[k % where.length].bases),
      ),
    );
    return {
      workers: where.length,
      concurrency,
      pairs: count,
      wallMs: round(run.result.wallMs),
      pairsPerSecond: round(count / (run.result.wallMs / 1000), 2),
      pairMs: latency(run.result.results.map((b) => b.wallMs)),
      cpuMsPerPair: round(cpuSplit(loadSummary(run.load)).bare / count),
      load: loadSummary(run.load),
    };
  };
  for (const n of [1, 2]) {
    log(`phase 2: ${n} worker(s), each with its datastore, golden image and parent`);
    const sites: Site[] = [];
    for (let i = 0; i < n; i++) sites.push(await site(`w${n}${i}`));
    idleCpuMsPerSecond = await idleDollyCpu();
    const goldens: Golden[] = [];
    for (const [i, s] of sites.entries())
      goldens.push(await goldenOf('small', s.datastore, `t${n}${i}`));
    const pools = [];
    for (const [i, g] of goldens.entries())
      pools.push(await createPool(g, poolSettings(`p${n}${i}`, BURST, 0)));
    placement[`${n} worker(s): pools' parents run on`] = await Promise.all(
      pools.map((p) => liveOn(p.pool.image.parents[0].parentVmId)),
    );
    await exec('sync', []);
    await poolBurst(pools);
    teardowns[`pools of the ${n}-worker run`] = await Promise.all(
      pools.map((p) => deletePool(p.poolId)),
    );
    const parents: Parent[] = [];
    for (const [i, g] of goldens.entries()) parents.push(await parentOf(g, `t${n}${i}`));
    // The first fork freezes its parent; and it gives the bases for the bare floor.
    const warmed = [];
    for (const [i, p] of parents.entries()) warmed.push(await forkWithFiles(p, `w${n}${i}`));
    placement[`${n} worker(s): API parents run on`] = await Promise.all(
      parents.map((p) => liveOn(p.vmId)),
    );
    await exec('sync', []);
    await apiBurst(parents, `b${n}`);
    await exec('sync', []);
    const where = [];
    for (const [i, s] of sites.entries())
      where.push({ folder: s.datastore.folder, bases: await basesOf(warmed[i].files) });
    bareFloors.push(await bareBurst(where));
    await retire(...sites);
  }

  // ------------------------------------------------------------ 4. a pool of 200
  log(`phase 4: pool of ${POOL_MAX} (${POOL_SPARES} spares), ${RUSH_USERS} users at once`);
  const scale: PoolAtScale = { maxMachines: POOL_MAX, spareMachines: POOL_SPARES };
  try {
    const last = await site('w4');
    const deskGolden = await goldenOf('small', last.datastore, 'desk');
    const big = await createPool(deskGolden, poolSettings('desk', POOL_MAX, POOL_SPARES));
    scale.imageBuiltMs = big.imageBuiltMs;
    const sparesFirst = await watchPool(big.poolId, (p) => p.counts.spares === POOL_SPARES);
    scale.sparesReadyAfterCreateMs = round(sparesFirst.doneAt - big.sentAt);
    const entitleUser = async (userId: string): Promise<Entitled> => {
      const sentAt = now();
      const answer = await bench.send<Accepted & { result?: Desktop }>(
        'POST',
        `/pools/${big.poolId}/entitlements`,
        { userId },
        {},
      );
      return {
        userId,
        status: answer.status,
        code: answer.body.code ?? null,
        desktop: answer.body.result ?? null,
        sentAt,
        answerMs: now() - sentAt,
      };
    };
    const lastAnswer = (entitled: Entitled[]) =>
      Math.max(...entitled.map((e) => e.sentAt + e.answerMs));
    // Entitlements on one pool are decided one after the other: the time between consecutive
    // answers is about one decision's, and shows whether it grows with the pool.
    const answerGaps = (entitled: Entitled[]) => {
      const at = entitled.map((e) => e.sentAt + e.answerMs).sort((a, b) => a - b);
      return byFifth(at.slice(1).map((t, i) => t - at[i]));
    };

    // 50 users at once.
    const rushUsers = Array.from({ length: RUSH_USERS }, (_, i) => `user-${i}@bench`);
    const rush = await underLoad(device, async () => {
      const started = now();
      const entitled = await Promise.all(rushUsers.map(entitleUser));
      const settled = await watchPool(
        big.poolId,
        (p) =>
          p.counts.provisioning === 0 &&
          rushUsers.every((u) => p.machines.some((m) => m.userId === u && m.status === 'ready')) &&
          p.counts.spares === POOL_SPARES,
      );
      return { started, entitled, settled };
    });
    const { entitled, settled } = rush.result;
    const running = await Promise.all(
      entitled.flatMap((e) => (e.desktop ? [bench.vm(e.desktop.vmId)] : [])),
    );
    scale.rush = {
      users: RUSH_USERS,
      ...audit(settled.pool!, entitled),
      answerMs: latency(entitled.map((e) => e.answerMs)),
      allAnsweredMs: round(lastAnswer(entitled) - rush.result.started),
      answerGapMsByFifth: answerGaps(entitled),
      userToRunningDesktopMs: latency(toDesktopMs(entitled, settled.readyAt)),
      allDesktopsReadyAndSparesBackMs: round(settled.doneAt - rush.result.started),
      timedOut: settled.timedOut,
      desktopsRunningWithExports: running.filter(forked).length,
      countsAfter: settled.pool?.counts,
      sparesKeptAt: settled.pool?.counts.spares,
      load: loadSummary(rush.load),
    };

    // The rest of the users, as many at once, until the pool holds its maximum.
    const fillUsers = Array.from(
      { length: Math.max(0, POOL_MAX - RUSH_USERS) },
      (_, i) => `user-${RUSH_USERS + i}@bench`,
    );
    const machinesBefore = settled.pool!.counts.machines;
    log(`phase 4: ${fillUsers.length} more users, ${RUSH_USERS} at a time, to fill the pool`);
    const fillRun = await underLoad(device, async () => {
      const started = now();
      const answers = await lanes(RUSH_USERS, fillUsers.length, (k) => entitleUser(fillUsers[k]));
      const full = await watchPool(
        big.poolId,
        (p) =>
          p.counts.machines === POOL_MAX &&
          p.counts.provisioning === 0 &&
          p.machines.every((m) => m.status === 'ready'),
      );
      return { started, answers: answers.results, full };
    });
    const { full, answers } = fillRun.result;
    const fillMs = full.doneAt - fillRun.result.started;
    const forkedDuringFill = (full.pool?.counts.machines ?? 0) - machinesBefore;
    scale.fill = {
      users: fillUsers.length,
      machinesBefore,
      machinesAfter: full.pool?.counts.machines,
      forked: forkedDuringFill,
      wallMs: round(fillMs),
      clonesPerSecond: round(forkedDuringFill / (fillMs / 1000), 2),
      allAnsweredMs: round(lastAnswer(answers) - fillRun.result.started),
      answerGapMsByFifth: answerGaps(answers),
      answerMs: latency(answers.map((e) => e.answerMs)),
      userToRunningDesktopMs: latency(toDesktopMs(answers, full.readyAt)),
      timedOut: full.timedOut,
      countsAfter: full.pool?.counts,
      load: loadSummary(fillRun.load),
    };
    const everyone = [...entitled, ...answers];
    scale.allUsers = { users: everyone.length, ...audit(full.pool!, everyone) };
    const poolTasks = await forkTasks(big.poolId);
    const ok = succeededTasks(poolTasks);
    scale.forkTasks = {
      total: poolTasks.length,
      failed: poolTasks.filter((t) => t.failed).length,
      taskQueuedToSucceededMs: latency(ok.map((t) => t.succeeded - t.queued)),
      taskWorkMs: latency(ok.map((t) => t.succeeded - t.started)),
      // In the order queued: whether a fork costs more as the pool and its streams grow.
      taskWorkMsByFifth: byFifth(ok.map((t) => t.succeeded - t.started)),
    };
    scale.streams = {
      poolEvents: await streamLength('pool', big.poolId),
      parentEvents: await streamLength('vm', big.pool.image.parents[0].parentVmId),
      replicaEvents: await streamLength('vm', big.pool.image.replicas[0].replicaVmId),
      datastoreEvents: await streamLength('datastore', last.datastore.datastoreId),
      hostEvents: await streamLength('host', hostId),
    };

    // Push image through all of them: a new golden snapshot; each user logs off (their floating
    // desktop goes) and asks again, getting one forked from the new image.
    log(`phase 4: push image, rolled through ${everyone.length} desktops as users log off`);
    const v2 = (await bench.command('POST', `/vms/${deskGolden.vmId}/snapshots`, { name: 'v2' }))
      .vm!.currentSnapshotId!;
    const pushRun = await underLoad(device, async () => {
      const started = now();
      const pushed = await bench.send('POST', `/pools/${big.poolId}/image`, {
        goldenVmId: deskGolden.vmId,
        snapshotId: v2,
      });
      if (![200, 202].includes(pushed.status))
        throw new Error(`push image: HTTP ${pushed.status} ${JSON.stringify(pushed.body)}`);
      const built = await watchPool(
        big.poolId,
        (p) => p.image.snapshotId === v2 && p.push === null,
      );
      const imageBuiltAt = built.doneAt;
      const current = built.pool!;
      const logoffMs: number[] = [];
      const logoffCodes: string[] = [];
      const back = await lanes(RUSH_USERS, everyone.length, async (k) => {
        const userId = everyone[k].userId;
        const desktop = current.machines.find((m) => m.userId === userId);
        if (desktop) {
          const sentAt = now();
          const off = await bench.send(
            'POST',
            `/pools/${big.poolId}/machines/${desktop.vmId}/logoff`,
            undefined,
            {},
          );
          logoffMs.push(now() - sentAt);
          if (off.body.code) logoffCodes.push(off.body.code);
        }
        return entitleUser(userId);
      });
      const rolled = await watchPool(
        big.poolId,
        (p) =>
          p.counts.outdated === 0 &&
          p.counts.machines === POOL_MAX &&
          p.counts.provisioning === 0 &&
          p.machines.every((m) => m.status === 'ready'),
      );
      return { started, imageBuiltAt, back: back.results, rolled, logoffMs, logoffCodes };
    });
    const { rolled } = pushRun.result;
    const rolledMs = rolled.doneAt - pushRun.result.imageBuiltAt;
    scale.push = {
      ...audit(rolled.pool!, pushRun.result.back),
      imageBuiltMs: round(pushRun.result.imageBuiltAt - pushRun.result.started),
      users: everyone.length,
      rolledThroughMs: round(rolledMs),
      desktopsPerSecond: round(everyone.length / (rolledMs / 1000), 2),
      logoffAnswerMs: latency(pushRun.result.logoffMs),
      logoffRefusals: [...new Set(pushRun.result.logoffCodes)],
      timedOut: rolled.timedOut,
      countsAfter: rolled.pool?.counts,
      load: loadSummary(pushRun.load),
    };

    log(`phase 4: deleting the pool of ${full.pool?.counts.machines} machines`);
    scale.teardown = await deletePool(big.poolId);
  } catch (error) {
    scale.error = (error as Error).message;
    log(`phase 4 failed: ${(error as Error).message}`);
  }

  // ------------------------------------------------------------ report
  const ratio = (a: number, b: number) => round(a / b, 2);
  const floorFor = (workersCount: number) => bareFloors.find((b) => b.workers === workersCount)!;
  const { rush: rushResult, fill: fillResult, teardown } = scale;
  const result = {
    parameters: {
      forks: FORKS,
      warmUpForks: WARM_UP_FORKS,
      sizeForks: SIZE_FORKS,
      burstPerParent: BURST,
      apiConcurrencyPerParent: API_CONCURRENCY,
      workerConcurrentJobs: WORKER_JOBS,
      images: IMAGES,
      pool: { maxMachines: POOL_MAX, spareMachines: POOL_SPARES, rushUsers: RUSH_USERS },
      datastores: 'one folder per worker, new for each phase, same file system (same device)',
      device,
      endPoint:
        'fork: POST /vms/{id}/instant-clone sent → answered (Prefer: wait) with the task succeeded and the clone in the VM read model powered on, ready, with its disk and memory image exported (live.exports, live.memoryImage); polled past the answer if not yet',
    },
    load: {
      loadAverageBefore: loadBefore.map((l) => round(l, 2)),
      loadAverageAfter: loadavg().map((l) => round(l, 2)),
      note: 'the machine is shared: other processes run beside the benchmark',
    },
    forkLatency: {
      dollyMs: forkMs,
      dollyToTaskSucceededMs: forkTaskSucceededMs,
      dollyTimelineMedianMs: medianTimeline(forks.map((f) => f.done)),
      bareOverlayPairWithFsyncMs: bareMsAll,
      bareOverlayPairWithoutFsyncMs: bareNoSyncMs,
      ratioP50: ratio(forkMs.p50, bareMsAll.p50),
      ratioP99: ratio(forkMs.p99, bareMsAll.p99),
      overheadP50Ms: round(forkMs.p50 - bareMsAll.p50, 2),
      overheadP99Ms: round(forkMs.p99 - bareMsAll.p99, 2),
      goalP99Ms: GOALS.forkP99Ms,
      met: forkMs.p99 < GOALS.forkP99Ms,
      clonesServingParentData: `${serving} of ${checked.length}`,
      workerProcessTrace: traced,
      streamsAfter: phase1Streams,
      acceptMsByFifth: byFifth(forks.map((f) => f.done.timeline.acceptMs)),
      workMsByFifth: byFifth(forks.map((f) => f.done.timeline.workMs)),
      dollyCpuMsPerFork: round(cpuSplit(loadSummary(sequential.load)).dolly / FORKS),
      idleDollyCpuMsPerSecond: phase1IdleCpuMsPerSecond,
      bareCpuMsPerPair: round(cpuSplit(loadSummary(sequential.load)).bare / FORKS),
      load: loadSummary(sequential.load),
      rawDollyMs: forks.map((f) => round(f.done.totalMs, 2)),
      rawDollyAcceptMs: forks.map((f) => round(f.done.timeline.acceptMs, 2)),
      rawDollyWorkMs: forks.map((f) => round(f.done.timeline.workMs, 2)),
      rawBareMs: bare.map((b) => round(b.wallMs, 2)),
      note: "bare: qemu-img create -b <parent layer> of the disk and of the memory image, at once, each followed by sync of the file and folder. Dolly's engine takes a pre-made overlay (a spare, synced ahead) and renames it, so its fork does not pay qemu-img nor that fsync on its path (the trace shows no process)",
    },
    throughput: {
      runs: throughput,
      bareFloors,
      placement,
      note: "a running parent lives in one worker's storage daemon: its forks run on that worker. The 2-worker runs use two parents (two pools), one per worker, each on a datastore only that worker serves",
    },
    bytesPerClone,
    poolAtScale: scale,
    standaloneCloneDeletion,
    teardowns,
    conflictsResent: bench.conflicts,
    durationSeconds: round((performance.now() - startedAt) / 1000),
  };
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const signed = (n: number) => (n < 0 ? `${n}` : `+${n}`);
  const size = (b: number) => `${round(b / 1024, 1)} KiB`;
  report(
    'instant-clones',
    [
      [
        `1. fork p50 / p99 ms (${FORKS} one at a time)`,
        `${forkMs.p50} / ${forkMs.p99}`,
        `${bareMsAll.p50} / ${bareMsAll.p99}`,
        `${ratio(forkMs.p50, bareMsAll.p50)}x / ${ratio(forkMs.p99, bareMsAll.p99)}x; ${signed(round(forkMs.p99 - bareMsAll.p99))} ms at p99`,
        `p99 < ${GOALS.forkP99Ms} ms: ${met(forkMs.p99 < GOALS.forkP99Ms)}`,
      ],
      ...throughput.map((run) => {
        const floor = floorFor(run.workers);
        return [
          `2. clones/s, ${run.workers} worker(s), ${run.how.split(':')[0]}`,
          `${run.clonesPerSecond}/s (${run.succeeded} of ${run.clones})`,
          `${floor.pairsPerSecond}/s (${floor.concurrency} at a time)`,
          `${ratio(run.clonesPerSecond, floor.pairsPerSecond)}x`,
          [
            run.workers === 2
              ? `>= ${GOALS.clonesPerSecond}/s: ${met(run.clonesPerSecond >= GOALS.clonesPerSecond)}`
              : '',
            `cpu/clone ${String(run.dollyCpuMsPerClone)} ms (beyond idle ${String(run.dollyCpuMsPerCloneBeyondIdle)}; bare ${floor.cpuMsPerPair}); machine cpu ${run.load.cpuBusyPercent}%`,
            run.failed ? `${run.failed} FAILED` : '',
          ]
            .filter(Boolean)
            .join('; '),
        ];
      }),
      ...(['small', 'large'] as const).map((s) => {
        const b = bytesPerClone[s];
        return [
          `3. bytes per clone, ${s} image (${IMAGES[s].dataBytes / MiB} MiB data)`,
          `${size(b.totalAllocatedBytes.p50)} (disk ${size(b.diskOverlayAllocatedBytes.p50)}, memory ${size(b.memoryOverlayAllocatedBytes.p50)})`,
          size(b.bareOverlayPairAllocatedBytes),
          `${b.ratioToBare}x`,
          `first 1 MiB write: +${size(b.afterFirstWrite.diskGrewBytes)} disk, +${size(b.afterFirstWrite.memoryGrewBytes)} memory`,
        ];
      }),
      [
        `4. ${RUSH_USERS} users at once on a pool of ${POOL_MAX} (answer p50 / p99 ms)`,
        rushResult
          ? `${rushResult.answered} answered, ${rushResult.distinctDesktopsGiven} distinct; ${rushResult.answerMs.p50} / ${rushResult.answerMs.p99}`
          : `FAILED: ${scale.error ?? 'not run'}`,
        '',
        '',
        rushResult
          ? `each on one machine: ${rushResult.usersOnExactlyOneMachine}/${RUSH_USERS}; spares after ${rushResult.sparesKeptAt} (want ${POOL_SPARES}); all ready in ${rushResult.allDesktopsReadyAndSparesBackMs} ms`
          : '',
      ],
      [
        `4. fill the pool to ${POOL_MAX}`,
        fillResult
          ? `${fillResult.machinesAfter} machines, ${fillResult.forked} forked in ${round(fillResult.wallMs / 1000, 1)} s: ${fillResult.clonesPerSecond}/s`
          : `FAILED: ${scale.error ?? 'not run'}`,
        '',
        '',
        teardown
          ? `teardown ${teardown.gone ? 'done' : 'NOT done'} in ${round(teardown.ms / 1000, 1)} s`
          : '',
      ],
      [
        `4. push image rolled through the pool (users log off, come back)`,
        scale.push
          ? `${scale.push.users} desktops in ${round(scale.push.rolledThroughMs / 1000, 1)} s: ${scale.push.desktopsPerSecond}/s`
          : `FAILED: ${scale.error ?? 'not run'}`,
        '',
        '',
        scale.push
          ? `image built in ${round(scale.push.imageBuiltMs / 1000, 1)} s; outdated after ${scale.push.countsAfter?.outdated}; each on one machine: ${scale.push.usersOnExactlyOneMachine}/${scale.push.users}; distinct ${scale.push.distinctDesktopsGiven}${scale.push.timedOut ? '; TIMED OUT' : ''}`
          : '',
      ],
    ],
    ['Measure', 'Dolly', 'Bare / floor', 'Ratio', 'Goal / notes'],
    result,
  );
});
