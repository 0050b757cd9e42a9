/**
 * The disk engine beside bare QEMU, same sizes, same machine, same run:
 *  - linked clone and fork (disk + memory) latency against bare `qemu-img create -b`, and
 *    against the naive QMP fork of the design brief (blockdev-create per overlay, each overlay
 *    opening its own copy of the base);
 *  - full clone of a 1 GiB half-allocated chain into each format against bare `qemu-img convert`
 *    (as is, and followed by the fsync that durability needs);
 *  - random 64 KiB and sequential 1 MiB writes through our NBD export against qemu-io on the
 *    same kind of qcow2 file directly;
 *  - 1,000 linked clones of one base: time, bytes on disk per clone, worker memory; forks open in
 *    the daemon: its memory as their number and their size grow;
 *  - how long a writer stalls during a point-in-time copy and a live snapshot.
 * Prints tables and writes bench/results/disk-engine.json (BENCH_RESULTS_DIR: elsewhere).
 * DOLLY_BENCH_QUICK=1: smaller counts.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Table from 'cli-table3';
import {
  type LiveExport,
  NbdClient,
  type OperationTiming,
  QemuDiskEngine,
  type QemuDiskEngineConfig,
} from '@dolly/disk-engine';
import { QmpClient } from '../libs/disk-engine/src/qmp/qmp-client';
import { JobSupervisor } from '../libs/disk-engine/src/qmp/jobs';
import { RESULTS_DIR } from './support';

const QUICK = process.env.DOLLY_BENCH_QUICK === '1';
/** DOLLY_BENCH_ONLY=latency,full,io,many,stall runs those parts only (for working on one). */
const ONLY = process.env.DOLLY_BENCH_ONLY?.split(',');
const wanted = (part: string) => !ONLY || ONLY.includes(part);
const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const LATENCY_SAMPLES = QUICK ? 40 : 200;
const CLONES = QUICK ? 200 : 1000;
const REPEATS = QUICK ? 1 : 3;
const IO_REPEATS = QUICK ? 2 : 5;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// ------------------------------------------------------------------ helpers

interface Row {
  group: string;
  name: string;
  unit: string;
  ours: number;
  bare: number | null;
  /** ours / bare: below 1 is faster (or smaller) than bare QEMU. */
  ratio: number | null;
  goal?: string;
  met?: boolean;
  note?: string;
}

const rows: Row[] = [];
const extra: Record<string, unknown> = {};

function row(r: Omit<Row, 'ratio'>): void {
  rows.push({ ...r, ratio: r.bare ? r.ours / r.bare : null });
}

function exec(command: string, args: string[], stdin?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    if (stdin !== undefined) child.stdin?.end(stdin);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args[0]}: ${code} ${stderr}`)),
    );
  });
}

/** What bare QEMU does for a linked clone: one qemu-img process writing an overlay. */
function bareOverlay(base: string, overlay: string, size: string): Promise<void> {
  return exec('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-u',
    '-b',
    base,
    '-F',
    'qcow2',
    overlay,
    size,
  ]);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const median = (samples: number[]) => percentile(samples, 50);

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

function nodeMemory(): { rssBytes: number; heapUsedBytes: number } {
  gc();
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed };
}

interface Bench {
  dir: string;
  datastore: string;
  engine: QemuDiskEngine;
  timings: OperationTiming[];
}

let counter = 0;
const opId = (what: string) => `${what}-${++counter}`;

async function withEngine<T>(
  name: string,
  use: (b: Bench) => Promise<T>,
  overrides: Partial<QemuDiskEngineConfig> = {},
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `dolly-bench-${name}-`));
  const datastore = join(dir, 'ds');
  await mkdir(datastore);
  const timings: OperationTiming[] = [];
  const { engine } = await QemuDiskEngine.start({
    datastores: [{ datastoreId: 'ds1', path: datastore }],
    runtimeDir: join(dir, 'rt'),
    onTiming: (t) => timings.push(t),
    ...overrides,
  });
  try {
    return await use({ dir, datastore, engine, timings });
  } finally {
    await engine.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Mean time per phase over the timings of one kind of operation. */
function phases(timings: OperationTiming[], kind: string): Record<string, number> {
  const mine = timings.filter((t) => t.kind === kind);
  const sums: Record<string, number> = {};
  for (const t of mine)
    for (const [phase, ms] of Object.entries(t.phasesMs)) sums[phase] = (sums[phase] ?? 0) + ms;
  return Object.fromEntries(Object.entries(sums).map(([phase, ms]) => [phase, ms / mine.length]));
}

async function writeData(
  engine: QemuDiskEngine,
  diskId: string,
  ranges: Array<[offset: number, bytes: number, byte: number]>,
) {
  const live = await engine.openLive({ operationId: opId('open'), target: { diskId } });
  const client = await nbd(live);
  for (const [offset, bytes, byte] of ranges) {
    for (let done = 0; done < bytes; done += 4 * MIB)
      await client.write(offset + done, Buffer.alloc(Math.min(4 * MIB, bytes - done), byte));
  }
  await client.flush();
  await client.close();
  await engine.closeLive({ operationId: opId('close'), target: { diskId } });
}

function nbd(live: LiveExport): Promise<NbdClient> {
  return NbdClient.connect(
    { socketPath: (live.endpoint as { socketPath: string }).socketPath },
    live.exportName,
  );
}

// ------------------------------------------------------------------ linked clone and fork

async function cloneAndForkLatency(): Promise<void> {
  await withEngine('latency', async ({ dir, datastore, engine, timings }) => {
    await engine.createDisk({
      operationId: opId('c'),
      datastoreId: 'ds1',
      diskId: 'golden',
      format: 'thin',
      capacityBytes: 16 * GIB,
    });
    await writeData(engine, 'golden', [[0, 64 * MIB, 1]]);
    const { frozenLayerId } = await engine.snapshot({ operationId: opId('s'), diskId: 'golden' });
    // Warm-up: the first clone of a base makes its overlay template.
    await engine.linkedClone({
      operationId: opId('l'),
      source: { layerId: frozenLayerId },
      diskId: 'warm',
    });

    const ours: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      ours.push(
        await timed(() =>
          engine.linkedClone({
            operationId: opId('l'),
            source: { layerId: frozenLayerId },
            diskId: `lc${i}`,
          }),
        ),
      );
    }
    const bare: number[] = [];
    const bareDir = join(dir, 'bare');
    await mkdir(bareDir);
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      bare.push(
        await timed(() =>
          bareOverlay(
            join(datastore, `${frozenLayerId}.qcow2`),
            join(bareDir, `b${i}.qcow2`),
            String(16 * GIB),
          ),
        ),
      );
    }
    for (const p of [50, 99]) {
      row({
        group: 'latency',
        name: `linked clone p${p}`,
        unit: 'ms',
        ours: percentile(ours, p),
        bare: percentile(bare, p),
        goal: p === 99 ? '< 20 ms' : undefined,
        met: p === 99 ? percentile(ours, 99) < 20 : undefined,
      });
    }
    extra.linkedClonePhasesMs = phases(timings, 'linkedClone');

    // Fork: a running parent (disk + 4 GiB memory image) frozen once, then forked again and again.
    await engine.linkedClone({
      operationId: opId('l'),
      source: { layerId: frozenLayerId },
      diskId: 'parent-disk',
    });
    await engine.createDisk({
      operationId: opId('c'),
      datastoreId: 'ds1',
      diskId: 'parent-mem',
      kind: 'memory',
      format: 'thin',
      capacityBytes: 4 * GIB,
    });
    await engine.openLive({ operationId: opId('o'), target: { diskId: 'parent-disk' } });
    await engine.openLive({ operationId: opId('o'), target: { diskId: 'parent-mem' } });
    await writeData(engine, 'parent-mem', [[0, 32 * MIB, 7]]).catch(() => undefined);
    const fork = (i: number) =>
      engine.fork({
        operationId: opId('f'),
        sources: [
          { diskId: 'parent-disk', newDiskId: `ic${i}-disk` },
          { diskId: 'parent-mem', newDiskId: `ic${i}-mem` },
        ],
      });
    await fork(-1);
    timings.length = 0;
    const forks: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) forks.push(await timed(() => fork(i)));
    const bareForks: number[] = [];
    const parentDisk = engine.inventory().disks.find((d) => d.diskId === 'parent-disk')!.topLayerId;
    const parentMem = engine.inventory().disks.find((d) => d.diskId === 'parent-mem')!.topLayerId;
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      bareForks.push(
        await timed(async () => {
          await bareOverlay(
            join(datastore, `${parentDisk}.qcow2`),
            join(bareDir, `fd${i}.qcow2`),
            String(16 * GIB),
          );
          await bareOverlay(
            join(datastore, `${parentMem}.qcow2`),
            join(bareDir, `fm${i}.qcow2`),
            String(4 * GIB),
          );
        }),
      );
    }
    for (const p of [50, 99]) {
      row({
        group: 'latency',
        name: `fork disk+memory p${p}`,
        unit: 'ms',
        ours: percentile(forks, p),
        bare: percentile(bareForks, p),
        goal: p === 99 ? '< 20 ms' : undefined,
        met: p === 99 ? percentile(forks, 99) < 20 : undefined,
        note: 'bare: two qemu-img create -b, not opened or exported',
      });
    }
    extra.forkPhasesMs = phases(timings, 'fork');
  });
}

/** The design brief's naive fork: blockdev-create per overlay, each opening its own base. */
async function naiveQmpFork(): Promise<{ p50: number; p99: number; rssPerForkBytes: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'dolly-bench-naive-'));
  const qmpPath = join(dir, 'qmp.sock');
  const child = spawn(
    'qemu-storage-daemon',
    ['--chardev', `socket,id=c,path=${qmpPath},server=on,wait=off`, '--monitor', 'chardev=c'],
    { stdio: 'ignore' },
  );
  try {
    const qmp = new QmpClient();
    for (let i = 0; ; i++) {
      try {
        await qmp.connect(qmpPath);
        break;
      } catch {
        if (i > 200) throw new Error('daemon did not start');
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const jobs = new JobSupervisor(qmp);
    await qmp.execute('nbd-server-start', {
      addr: { type: 'unix', data: { path: join(dir, 'nbd.sock') } },
    });
    await exec('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      join(dir, 'disk.qcow2'),
      String(16 * GIB),
    ]);
    await exec('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      join(dir, 'mem.qcow2'),
      String(4 * GIB),
    ]);
    const overlay = async (name: string, base: string, size: number) => {
      const file = join(dir, `${name}.qcow2`);
      const createFile = jobs.newJobId('c');
      await jobs.run(createFile, () =>
        qmp.execute('blockdev-create', {
          'job-id': createFile,
          options: { driver: 'file', filename: file, size: 0 },
        }),
      );
      await qmp.execute('blockdev-add', {
        driver: 'file',
        'node-name': `f${name}`,
        filename: file,
      });
      const createQcow2 = jobs.newJobId('c');
      await jobs.run(createQcow2, () =>
        qmp.execute('blockdev-create', {
          'job-id': createQcow2,
          options: {
            driver: 'qcow2',
            file: `f${name}`,
            size,
            'backing-file': base,
            'backing-fmt': 'qcow2',
          },
        }),
      );
      await qmp.execute('blockdev-add', {
        driver: 'qcow2',
        'node-name': `n${name}`,
        file: `f${name}`,
      });
      await qmp.execute('block-export-add', {
        type: 'nbd',
        id: `e${name}`,
        'node-name': `n${name}`,
        name,
        writable: true,
      });
    };
    const samples: number[] = [];
    const before = await rssOf(child.pid!);
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      samples.push(
        await timed(async () => {
          await overlay(`d${i}`, join(dir, 'disk.qcow2'), 16 * GIB);
          await overlay(`m${i}`, join(dir, 'mem.qcow2'), 4 * GIB);
        }),
      );
    }
    const after = await rssOf(child.pid!);
    await qmp.execute('quit', {}).catch(() => undefined);
    await qmp.disconnect();
    return {
      p50: percentile(samples, 50),
      p99: percentile(samples, 99),
      rssPerForkBytes: (after - before) / LATENCY_SAMPLES,
    };
  } finally {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ full clone

async function fullClones(): Promise<void> {
  await withEngine('full', async ({ dir, datastore, engine, timings }) => {
    await engine.createDisk({
      operationId: opId('c'),
      datastoreId: 'ds1',
      diskId: 'vm',
      format: 'thin',
      capacityBytes: GIB,
    });
    await writeData(engine, 'vm', [[0, 256 * MIB, 0x11]]);
    await engine.snapshot({ operationId: opId('s'), diskId: 'vm' });
    await writeData(engine, 'vm', [[512 * MIB, 256 * MIB, 0x22]]);
    const top = join(datastore, `${engine.inventory().disks[0].topLayerId}.qcow2`);
    const prealloc = {
      thin: 'off',
      'thick-lazy-zeroed': 'falloc',
      'thick-eager-zeroed': 'full',
    } as const;
    for (const format of ['thin', 'thick-lazy-zeroed', 'thick-eager-zeroed'] as const) {
      const ours: number[] = [];
      const bare: number[] = [];
      const bareSynced: number[] = [];
      for (let r = 0; r < REPEATS; r++) {
        const diskId = `copy-${format}-${r}`;
        const out = join(dir, `bare-${format}.qcow2`);
        const convert = () =>
          exec('qemu-img', [
            'convert',
            '-f',
            'qcow2',
            '-O',
            'qcow2',
            '-o',
            `cluster_size=65536,preallocation=${prealloc[format]}`,
            top,
            out,
          ]);
        const runOurs = async () => {
          ours.push(
            await timed(() =>
              engine.fullClone({
                operationId: opId('f'),
                source: { diskId: 'vm' },
                diskId,
                datastoreId: 'ds1',
                format,
              }),
            ),
          );
          await engine.deleteDisk({ operationId: opId('d'), diskId });
        };
        const runBare = async () => {
          bare.push(await timed(convert));
          await rm(out);
          bareSynced.push(
            await timed(async () => {
              await convert();
              await exec('sync', ['--data', out]);
            }),
          );
          await rm(out);
        };
        // Alternating who goes first, so that neither always meets a warmer page cache.
        for (const run of r % 2 ? [runBare, runOurs] : [runOurs, runBare]) await run();
      }
      row({
        group: 'full clone 1 GiB (512 MiB allocated)',
        name: `into ${format}`,
        unit: 'ms',
        ours: median(ours),
        bare: median(bareSynced),
        goal: '<= 1.1x',
        met: median(ours) / median(bareSynced) <= 1.1,
        note: `bare without fsync: ${median(bare).toFixed(0)} ms (ratio ${(median(ours) / median(bare)).toFixed(2)})`,
      });
    }
    extra.fullClonePhasesMs = phases(timings, 'fullClone');
  });
}

// ------------------------------------------------------------------ writes through NBD

async function writeThroughput(): Promise<void> {
  await withEngine('io', async ({ dir, engine }) => {
    const writes = QUICK ? 500 : 2000;
    const random = Array.from(
      { length: writes },
      () => Math.floor(Math.random() * (GIB / (64 * 1024))) * 64 * 1024,
    );
    const scripts = {
      'random 64 KiB writes, queue depth 1': random.map((o) => `write -P 0xab ${o} 64k`).join('\n'),
      'random 64 KiB writes, queue depth 16': chunked(random, 16)
        .map((batch) => [...batch.map((o) => `aio_write -P 0xab ${o} 64k`), 'aio_flush'].join('\n'))
        .join('\n'),
      'sequential 1 MiB writes': Array.from(
        { length: QUICK ? 128 : 512 },
        (_, i) => `write -P 0xcd ${i * MIB} 1M`,
      ).join('\n'),
    };
    for (const [name, script] of Object.entries(scripts)) {
      const ours: number[] = [];
      const bare: number[] = [];
      for (let r = 0; r < IO_REPEATS; r++) {
        const runOurs = async () => {
          const diskId = `io-${counter}`;
          await engine.createDisk({
            operationId: opId('c'),
            datastoreId: 'ds1',
            diskId,
            format: 'thin',
            capacityBytes: GIB,
          });
          const live = await engine.openLive({ operationId: opId('o'), target: { diskId } });
          ours.push(
            await timed(() => exec('qemu-io', ['-f', 'raw', live.uri], `${script}\nflush\nquit\n`)),
          );
          await engine.deleteDisk({ operationId: opId('d'), diskId });
        };
        const runBare = async () => {
          const file = join(dir, `direct-${r}.qcow2`);
          await exec('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(GIB)]);
          bare.push(
            await timed(() => exec('qemu-io', ['-f', 'qcow2', file], `${script}\nflush\nquit\n`)),
          );
          await rm(file);
        };
        for (const run of r % 2 ? [runBare, runOurs] : [runOurs, runBare]) await run();
      }
      row({
        group: 'writes (qemu-io)',
        name,
        unit: 'ms',
        ours: median(ours),
        bare: median(bare),
        goal: '<= 1.1x',
        met: median(ours) / median(bare) <= 1.1,
        note: 'ours: qemu-io on our NBD export; bare: qemu-io on a qcow2 file',
      });
    }
  });
}

function chunked<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) =>
    items.slice(i * size, (i + 1) * size),
  );
}

// ------------------------------------------------------------------ many clones, memory

async function manyClones(): Promise<void> {
  await withEngine('many', async ({ dir, datastore, engine }) => {
    await engine.createDisk({
      operationId: opId('c'),
      datastoreId: 'ds1',
      diskId: 'base',
      format: 'thin',
      capacityBytes: 16 * GIB,
    });
    await writeData(engine, 'base', [[0, 32 * MIB, 3]]);
    const { frozenLayerId } = await engine.snapshot({ operationId: opId('s'), diskId: 'base' });
    const memory: Array<{ clones: number; nodeRssBytes: number; nodeHeapUsedBytes: number }> = [];
    const sample = (clones: number) => {
      const m = nodeMemory();
      memory.push({ clones, nodeRssBytes: m.rssBytes, nodeHeapUsedBytes: m.heapUsedBytes });
    };
    sample(0);
    const start = performance.now();
    const perClone: number[] = [];
    for (let i = 0; i < CLONES; i++) {
      const r = await engine.linkedClone({
        operationId: opId('l'),
        source: { layerId: frozenLayerId },
        diskId: `c${i}`,
      });
      perClone.push(r.allocatedBytes);
      if ((i + 1) % (CLONES / 4) === 0) sample(i + 1);
    }
    const totalMs = performance.now() - start;
    const bare = join(dir, 'bare.qcow2');
    await bareOverlay(join(datastore, `${frozenLayerId}.qcow2`), bare, String(16 * GIB));
    const { stat } = await import('node:fs/promises');
    const bareBytes = (await stat(bare)).blocks * 512;
    row({
      group: `${CLONES} linked clones of one 16 GiB base`,
      name: 'time for all',
      unit: 'ms',
      ours: totalMs,
      bare: null,
      note: `${(totalMs / CLONES).toFixed(2)} ms per clone`,
    });
    row({
      group: `${CLONES} linked clones of one 16 GiB base`,
      name: 'bytes on disk per clone (max)',
      unit: 'bytes',
      ours: Math.max(...perClone),
      bare: bareBytes,
      goal: '<= one qcow2 header + tables',
      met: Math.max(...perClone) <= bareBytes,
      note: 'bare: the file qemu-img create -b writes',
    });
    const growth = memory.at(-1)!.nodeHeapUsedBytes - memory[0].nodeHeapUsedBytes;
    row({
      group: `${CLONES} linked clones of one 16 GiB base`,
      name: 'worker heap growth per clone',
      unit: 'bytes',
      ours: growth / CLONES,
      bare: null,
      note: 'the layer graph and recent operation records, nothing per byte of disk',
    });
    extra.workerMemoryByClones = memory;
  });

  // Forks open in the daemon: memory as their number and the disks' size grow.
  const daemonMemory: Array<{
    baseCapacityBytes: number;
    forks: number;
    daemonRssBytes: number;
    nodeRssBytes: number;
  }> = [];
  for (const capacity of [GIB, 64 * GIB]) {
    await withEngine('forks', async ({ engine }) => {
      await engine.createDisk({
        operationId: opId('c'),
        datastoreId: 'ds1',
        diskId: 'pd',
        format: 'thin',
        capacityBytes: capacity,
      });
      await engine.createDisk({
        operationId: opId('c'),
        datastoreId: 'ds1',
        diskId: 'pm',
        kind: 'memory',
        format: 'thin',
        capacityBytes: 4 * GIB,
      });
      await writeData(engine, 'pd', [[0, 32 * MIB, 5]]);
      const forks = QUICK ? 100 : 400;
      const measureAt = new Set([0, forks / 4, forks / 2, forks]);
      for (let i = 0; i <= forks; i++) {
        if (measureAt.has(i))
          daemonMemory.push({
            baseCapacityBytes: capacity,
            forks: i,
            daemonRssBytes: await rssOf(engine.daemonPid!),
            nodeRssBytes: nodeMemory().rssBytes,
          });
        if (i < forks)
          await engine.fork({
            operationId: opId('f'),
            sources: [
              { diskId: 'pd', newDiskId: `d${i}` },
              { diskId: 'pm', newDiskId: `m${i}` },
            ],
          });
      }
    });
  }
  extra.daemonMemoryByForks = daemonMemory;
  for (const capacity of [GIB, 64 * GIB]) {
    const points = daemonMemory.filter((d) => d.baseCapacityBytes === capacity);
    const perFork =
      (points.at(-1)!.daemonRssBytes - points[1].daemonRssBytes) /
      (points.at(-1)!.forks - points[1].forks);
    row({
      group: 'daemon memory, forks open and exported',
      name: `per fork, ${capacity / GIB} GiB disk + 4 GiB memory`,
      unit: 'bytes',
      ours: perFork,
      bare: extra.naiveForkRssBytes as number,
      note: 'bare: the naive fork, each overlay opening its own base',
    });
  }
}

// ------------------------------------------------------------------ writer stalls

async function writerStalls(): Promise<void> {
  await withEngine('stall', async ({ engine }) => {
    await engine.createDisk({
      operationId: opId('c'),
      datastoreId: 'ds1',
      diskId: 'busy',
      format: 'thin',
      capacityBytes: GIB,
    });
    await writeData(engine, 'busy', [[0, 512 * MIB, 9]]);
    const client = await nbd(
      await engine.openLive({ operationId: opId('o'), target: { diskId: 'busy' } }),
    );
    const block = Buffer.alloc(64 * 1024, 1);
    const latencies = async (during: () => Promise<unknown>) => {
      // Each phase starts with the page cache written back, so no phase pays for the one before.
      await exec('sync', []);
      const samples: number[] = [];
      let stop = false;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          samples.push(await timed(() => client.write(((i * 7919) % 16384) * 64 * 1024, block)));
        }
      })();
      await during();
      stop = true;
      await writer;
      return samples;
    };
    const idle = await latencies(() => new Promise((r) => setTimeout(r, 1500)));
    const copy = await latencies(() =>
      engine.fullClone({
        operationId: opId('f'),
        source: { diskId: 'busy' },
        diskId: 'pit',
        datastoreId: 'ds1',
        format: 'thin',
      }),
    );
    const snapshot = await latencies(async () => {
      await new Promise((r) => setTimeout(r, 200));
      await engine.snapshot({ operationId: opId('s'), diskId: 'busy' });
      await new Promise((r) => setTimeout(r, 200));
    });
    await client.close();
    for (const [name, samples] of [
      ['during a point-in-time copy', copy],
      ['across a live snapshot', snapshot],
    ] as const) {
      row({
        group: 'writer stall (64 KiB writes, QD1)',
        name: `longest write ${name}`,
        unit: 'ms',
        ours: Math.max(...samples),
        bare: Math.max(...idle),
        note: `p99 ${percentile(samples, 99).toFixed(2)} ms vs idle p99 ${percentile(idle, 99).toFixed(2)} ms; bare: the same writer, nothing else going on`,
      });
    }
  });
}

// ------------------------------------------------------------------ main

async function qemuVersion(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('qemu-img', ['--version']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => resolve(out.split('\n')[0]));
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = loadavg();
  console.log(`disk-engine benchmark${QUICK ? ' (quick)' : ''}: this takes a few minutes`);
  if (wanted('latency')) {
    await cloneAndForkLatency();
    const naive = await naiveQmpFork();
    extra.naiveForkRssBytes = naive.rssPerForkBytes;
    for (const [p, value] of [
      [50, naive.p50],
      [99, naive.p99],
    ] as const) {
      const ours = rows.find((r) => r.name === `fork disk+memory p${p}`)!.ours;
      row({
        group: 'latency',
        name: `fork disk+memory p${p} vs the naive QMP fork`,
        unit: 'ms',
        ours,
        bare: value,
        note: 'bare: blockdev-create x2 jobs per overlay, own base per overlay, exported',
      });
    }
  }
  if (wanted('full')) await fullClones();
  if (wanted('io')) await writeThroughput();
  if (wanted('many')) await manyClones();
  if (wanted('stall')) await writerStalls();

  const table = new Table({
    head: ['group', 'row', 'ours', 'bare QEMU', 'ratio', 'goal', 'met'],
    wordWrap: true,
    colWidths: [26, 44, 14, 14, 8, 14, 6],
  });
  const fmt = (value: number | null, unit: string) =>
    value === null
      ? '-'
      : unit === 'bytes'
        ? `${(value / 1024).toFixed(1)} KiB`
        : `${value.toFixed(value < 10 ? 2 : 0)} ${unit}`;
  for (const r of rows) {
    table.push([
      r.group,
      r.name + (r.note ? `\n(${r.note})` : ''),
      fmt(r.ours, r.unit),
      fmt(r.bare, r.unit),
      r.ratio === null ? '-' : r.ratio.toFixed(2),
      r.goal ?? '',
      r.met === undefined ? '' : r.met ? 'yes' : 'no',
    ]);
  }
  console.log(table.toString());
  const phaseTable = new Table({
    head: [
      'where the time goes (mean ms)',
      'prepare',
      'decide+log',
      'execute',
      'finish',
      'commit',
      'after',
    ],
  });
  for (const [name, key] of [
    ['linked clone', 'linkedClonePhasesMs'],
    ['fork', 'forkPhasesMs'],
    ['full clone', 'fullClonePhasesMs'],
  ] as const) {
    const p = (extra[key] ?? {}) as Record<string, number>;
    phaseTable.push([
      name,
      ...['prepare', 'decide-and-log', 'execute', 'finish', 'commit', 'after-commit'].map((k) =>
        (p[k] ?? 0).toFixed(2),
      ),
    ]);
  }
  console.log(phaseTable.toString());
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  console.log(`load average before ${load(loadBefore)}, after ${load(loadavg())}`);
  const results = {
    generatedAt: new Date().toISOString(),
    quick: QUICK,
    durationMs: Date.now() - started,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryBytes: totalmem(),
      qemu: await qemuVersion(),
      node: process.version,
      // Other work on the machine shows here; the ratios compare runs made side by side.
      loadAverageBefore: loadBefore,
      loadAverageAfter: loadavg(),
    },
    rows,
    ...extra,
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, ONLY ? 'disk-engine.partial.json' : 'disk-engine.json');
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`written ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
