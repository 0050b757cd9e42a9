/**
 * npm run bench:ova: importing and exporting an OVA through the whole of Dolly, against what an
 * operator does by hand with the same tools on the same file system, measured in the same run:
 *  1. the package is built by outside tools, as a vendor would: a disk half allocated (every other
 *     MiB written, each half random and half text, so that compression does real work), converted
 *     by `qemu-img convert -O vmdk -o subformat=streamOptimized`, a descriptor from Dolly's own
 *     writer, a SHA-256 manifest from `sha256sum --tag`, one USTAR archive from GNU tar;
 *  2. import: POST /vms/import (multipart, the file streamed from disk, never read whole) until
 *     the VM is ready, against `tar -xf` + `qemu-img convert -O qcow2` of its VMDK + sync of the
 *     result, on the datastore's file system; the imported disk compared with the source once;
 *  3. export: GET /vms/{id}/export.ova streamed to a file (then fsynced, as the CLI does), against
 *     `qemu-img convert -O vmdk -o subformat=streamOptimized` of the imported disk + `tar -cf` of
 *     descriptor, manifest and VMDK + sync; the exported OVA checked once (members, manifest by
 *     sha256sum, its VMDK by `qemu-img compare` with the source);
 *  4. memory: the peak resident set (VmHWM) of each Dolly process (api, projector, worker) over
 *     the imports and over the exports, and again for one import and one export of a larger
 *     package: it must stay flat whatever the package's size.
 * Each timed repeat alternates who goes first, so that neither always meets the other's dirty pages.
 *
 * BENCH_OVA_GIB (default 1) disk capacity of the timed package; BENCH_OVA_REPEATS (3) imports and
 * exports each, Dolly and floor; BENCH_OVA_LARGE_GIB (4) capacity of the memory run's package, 0
 * to skip it.
 */
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { open, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { taskStreamId } from '@dolly/domain';
import { type DollyStack } from '@dolly/testing';
import {
  type Accepted,
  GiB,
  MiB,
  registerDatastore,
  registerHost,
} from '../test/support/inventory';
import { layerFile, sameContent } from '../test/support/disks';
import { type Vm } from '../test/support/vms';
import { exec } from './bare-qemu';
import { BenchWorker } from './bench-workers';
import { deviceOf, underLoad } from './host-load';
import {
  type FloorTiming,
  type Package,
  buildPackage,
  checkExport,
  floorExport,
  floorImport,
  floorMs,
  output,
} from './ova-package';
import { report, round } from './support';
import { Bench, loadSummary, log, median, now, runBenchmark, sleep } from './timed-commands';

const PACKAGE_GIB = Number(process.env.BENCH_OVA_GIB ?? 1);
const REPEATS = Number(process.env.BENCH_OVA_REPEATS ?? 3);
const LARGE_GIB = Number(process.env.BENCH_OVA_LARGE_GIB ?? 4);
const GOALS = { ratioToFloor: 1.2, peakRssBytesPerProcess: 256 * MiB };

// ------------------------------------------------------------------ Dolly over HTTP

interface Upload {
  status: number;
  body: Accepted & { code?: string };
  /** Until the first byte of the answer (curl's time_starttransfer). */
  answeredMs: number;
}

/**
 * The bench's client is curl, as an integrator's script would be: what is timed is Dolly's work,
 * not a Node client's (which took most of a core to move the bytes, on a machine of two).
 */
const curlArgs = (stack: DollyStack, path: string) => [
  '--silent',
  '--show-error',
  '--header',
  `authorization: Bearer ${stack.tokens.admin}`,
  `${stack.apiUrl}${path}`,
];

/**
 * POST /vms/import as the CLI sends it: multipart/form-data, the spec field first, then the .ova
 * as one file part streamed from disk by curl (Content-Length known; no 100-continue wait).
 */
async function uploadOva(stack: DollyStack, ova: string, spec: unknown): Promise<Upload> {
  const answerFile = `${ova}.answer.json`;
  const { stdout } = await output('curl', [
    '--header',
    'prefer: wait=60',
    '--header',
    'accept: application/json',
    '--header',
    'expect:',
    '--form-string',
    `spec=${JSON.stringify(spec)}`,
    '--form',
    `package=@${ova};type=application/octet-stream;filename=app.ova`,
    '--output',
    answerFile,
    '--write-out',
    '%{http_code} %{time_starttransfer}',
    ...curlArgs(stack, '/vms/import'),
  ]);
  const [status, answeredSeconds] = stdout.trim().split(' ').map(Number);
  const text = readFileSync(answerFile, 'utf8');
  await rm(answerFile);
  try {
    return {
      status,
      body: JSON.parse(text) as Upload['body'],
      answeredMs: answeredSeconds * 1000,
    };
  } catch {
    throw new Error(`POST /vms/import: HTTP ${status} ${text.slice(0, 500)}`);
  }
}

/** Polls until the task succeeded and the VM reads ready; throws with the task when it failed. */
async function untilReady(bench: Bench, taskId: string, vmId: string, vm?: Vm): Promise<Vm> {
  let task: Accepted['task'] | undefined;
  do {
    task = (await bench.stack.request<Accepted['task']>('GET', `/tasks/${taskId}`)).body;
    if (task?.status === 'queued' || task?.status === 'running') await sleep(50);
  } while (task?.status === 'queued' || task?.status === 'running');
  if (task?.status !== 'succeeded')
    throw new Error(`import task ${taskId}: ${JSON.stringify(task)}`);
  while (vm?.lifecycle !== 'ready') {
    if (vm) await sleep(50);
    vm = await bench.vm(vmId);
  }
  return vm;
}

async function dollyImport(
  bench: Bench,
  pkg: Package,
  target: { hostId: string; datastoreId: string },
  name: string,
): Promise<{
  vm: Vm;
  ms: number;
  answeredMs: number;
  taskEventsMs: Record<string, number>;
}> {
  const sentAt = now();
  const started = performance.now();
  const answer = await uploadOva(bench.stack, pkg.ova, { ...target, name });
  if (![200, 201, 202].includes(answer.status) || !answer.body.taskId)
    throw new Error(`POST /vms/import: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  const vm = await untilReady(
    bench,
    answer.body.taskId,
    answer.body.target.id,
    answer.body.resource as Vm | undefined,
  );
  return {
    vm,
    ms: performance.now() - started,
    answeredMs: answer.answeredMs,
    taskEventsMs: await taskEvents(bench.stack, answer.body.taskId, sentAt),
  };
}

/**
 * When each event of the task was committed, from the upload's start: where an import's time
 * goes (the API's checks and decision, Kafka to the worker, the transfer opened, the package read
 * and the disk written, the read model).
 */
async function taskEvents(
  stack: DollyStack,
  taskId: string,
  sentAt: number,
): Promise<Record<string, number>> {
  const { rows } = await stack.database.pool.query<{ type: string; at: number }>(
    `SELECT type, extract(epoch FROM recorded_at) * 1000 AS at FROM event_store.events
      WHERE stream_id = $1 ORDER BY stream_version`,
    [taskStreamId(taskId)],
  );
  const at: Record<string, number> = {};
  for (const row of rows) at[row.type] ??= round(Number(row.at) - sentAt);
  return at;
}

/** GET /vms/{id}/export.ova streamed to a file by curl, then fsynced (as `dolly vms export` does). */
async function dollyExport(
  stack: DollyStack,
  vmId: string,
  file: string,
): Promise<{ ms: number; taskEventsMs: Record<string, number> }> {
  const sentAt = now();
  const started = performance.now();
  const headersFile = `${file}.headers`;
  const { stdout } = await output('curl', [
    '--header',
    'accept: application/x-tar',
    '--dump-header',
    headersFile,
    '--output',
    file,
    '--write-out',
    '%{http_code}',
    ...curlArgs(stack, `/vms/${vmId}/export.ova`),
  ]);
  const headers = readFileSync(headersFile, 'utf8');
  await rm(headersFile);
  if (stdout.trim() !== '200')
    throw new Error(
      `GET /vms/${vmId}/export.ova: HTTP ${stdout.trim()} ${readFileSync(file, 'utf8').slice(0, 500)}`,
    );
  const taskId = /^x-dolly-task-id: *(\S+)/im.exec(headers)?.[1] ?? '';
  const handle = await open(file, 'r+');
  await handle.sync().finally(() => handle.close());
  const ms = performance.now() - started;
  return { ms, taskEventsMs: await taskEvents(stack, taskId, sentAt) };
}

/** The exported OVA as other tools read it: its members, its manifest, its disk's content. */
// ------------------------------------------------------------------ memory

/** The Dolly processes whose memory is measured: the stack's api and projector, the bench's worker. */
function dollyProcesses(worker: BenchWorker): Record<string, number> {
  const found: Record<string, number> = { worker: worker.pid };
  for (const entry of readdirPids()) {
    const stat = readOrNull(`/proc/${entry}/stat`);
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== process.pid) continue;
    const app = /dist\/apps\/(api|projector)\/src\/main\.js/.exec(
      (readOrNull(`/proc/${entry}/cmdline`) ?? '').split('\0').join(' '),
    )?.[1];
    if (app) found[app] = entry;
  }
  for (const app of ['api', 'projector'])
    if (!found[app]) throw new Error(`The stack's ${app} process was not found under this one`);
  return found;
}

function readdirPids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

const statusBytes = (pid: number, field: 'VmHWM' | 'VmRSS'): number | null => {
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
    readOrNull(`/proc/${pid}/status`) ?? '',
  )?.[1];
  return kb === undefined ? null : Number(kb) * 1024;
};

/**
 * The peak resident set of each process over some work: the kernel's high-water mark (VmHWM),
 * reset before the work (clear_refs 5, Linux 4.0+) so that each phase has its own peak, and RSS
 * sampled every 100 ms beside it (the kernel folds each thread's RSS counts into the process's in
 * batches, so either can be a little above the other): the peak is the higher. Where the reset is
 * refused, the mark is the peak since the process started, and the result says so. The resident
 * set each process had before the work is kept too: most of a peak is the idle process.
 */
async function peakRss<T>(
  pids: Record<string, number>,
  work: () => Promise<T>,
): Promise<{
  result: T;
  peaks: Record<string, number | null>;
  highWaterMarks: Record<string, number | null>;
  sampledPeaks: Record<string, number | null>;
  rssBefore: Record<string, number | null>;
  markReset: boolean;
}> {
  let markReset = true;
  for (const pid of Object.values(pids)) {
    try {
      await writeFile(`/proc/${pid}/clear_refs`, '5');
    } catch {
      markReset = false;
    }
  }
  const byProcess = (read: (pid: number) => number | null) =>
    Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, read(pid)]));
  const rssBefore = byProcess((pid) => statusBytes(pid, 'VmRSS'));
  const sampled: Record<string, number | null> = {};
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) {
      const rss = statusBytes(pid, 'VmRSS');
      if (rss !== null) sampled[name] = Math.max(sampled[name] ?? 0, rss);
    }
  };
  sample();
  const timer = setInterval(sample, 100);
  try {
    const result = await work();
    sample();
    const highWaterMarks = byProcess((pid) => statusBytes(pid, 'VmHWM'));
    return {
      result,
      peaks: Object.fromEntries(
        Object.keys(pids).map((name) => [
          name,
          highWaterMarks[name] === null && sampled[name] === undefined
            ? null
            : Math.max(highWaterMarks[name] ?? 0, sampled[name] ?? 0),
        ]),
      ),
      highWaterMarks,
      sampledPeaks: sampled,
      rssBefore,
      markReset,
    };
  } finally {
    clearInterval(timer);
  }
}

const maxOf = (peaks: Record<string, number | null>) =>
  Math.max(...Object.values(peaks).map((v) => v ?? Infinity));
const mib = (bytes: number | null) => (bytes === null ? 'n/a' : `${round(bytes / MiB)} MiB`);
/** Each process's peak, with its resident set before the phase: "worker 230 MiB (from 180)". */
const peaksLine = (peaks: Record<string, number | null>, before: Record<string, number | null>) =>
  Object.entries(peaks)
    .map(([name, bytes]) => `${name} ${mib(bytes)} (from ${mib(before[name])})`)
    .join(', ');

// ------------------------------------------------------------------ the run

runBenchmark(async (stack, workers) => {
  const loadBefore = loadavg();
  const startedAt = performance.now();
  const bench = new Bench(stack);
  const hostId = await registerHost(stack);
  const folder = stack.datastoreFolder();
  const datastoreId = await registerDatastore(stack, { folder, capacityBytes: 256 * GiB });
  workers.push(await BenchWorker.start(stack, 'w1', [datastoreId]));
  const pids = dollyProcesses(workers[0]);
  const target = { hostId, datastoreId };
  // Packages, floors and downloads all live beside the datastore: one file system, one device.
  const work = mkdtempSync(join(stack.datastoreRoot, 'bench-ova-'));
  const device = deviceOf(folder);

  const capacityBytes = Math.round(PACKAGE_GIB * 1024) * MiB;
  log(`building a ${PACKAGE_GIB} GiB package (half allocated) with qemu-img, sha256sum and tar`);
  const pkg = await buildPackage(work, capacityBytes);
  log(
    `package: ${round(pkg.ovaBytes / MiB)} MiB OVA, ${round(pkg.vmdkBytes / MiB)} MiB VMDK, built in ${round(pkg.buildSeconds)} s`,
  );

  // ------------------------------------------------------------ import
  log(
    `import: Dolly (upload until the VM is ready) vs tar -x + qemu-img convert + sync, ${REPEATS} each`,
  );
  const imports: Awaited<ReturnType<typeof dollyImport>>[] = [];
  const importFloors: FloorTiming[] = [];
  let imported: Vm | undefined;
  let importedEqualsSource = false;
  await exec('sync', []);
  const importRun = await peakRss(pids, () =>
    underLoad(device, async () => {
      for (let r = 0; r < REPEATS; r++) {
        const ours = async () => {
          const done = await dollyImport(bench, pkg, target, `imported-${r}`);
          imports.push(done);
          if (r === 0) {
            // The first stays, for the export; the others go, so every import meets the same datastore.
            imported = done.vm;
            importedEqualsSource = await sameContent(
              pkg.raw,
              layerFile(folder, done.vm.disks[0].layerId!),
            );
          } else await bench.deleteAll([done.vm.vmId]);
        };
        const floor = async () => importFloors.push(await floorImport(pkg, work));
        for (const run of r % 2 ? [floor, ours] : [ours, floor]) await run();
      }
    }),
  );
  if (!importedEqualsSource) throw new Error('The imported disk does not read as the source');
  const importedDisk = layerFile(folder, imported!.disks[0].layerId!);

  // ------------------------------------------------------------ export
  log(
    `export: Dolly (download to a file, fsynced) vs qemu-img convert + tar -c + sync, ${REPEATS} each`,
  );
  const exportsMs: number[] = [];
  const exportTaskEvents: Record<string, number>[] = [];
  const exportFloors: FloorTiming[] = [];
  let exportCheck: Awaited<ReturnType<typeof checkExport>> | undefined;
  await exec('sync', []);
  const exportRun = await peakRss(pids, () =>
    underLoad(device, async () => {
      for (let r = 0; r < REPEATS; r++) {
        const ours = async () => {
          const file = join(work, `exported-${r}.ova`);
          const done = await dollyExport(stack, imported!.vmId, file);
          exportsMs.push(done.ms);
          exportTaskEvents.push(done.taskEventsMs);
          if (r === 0) exportCheck = await checkExport(file, pkg, work);
          await rm(file);
        };
        const floor = async () => exportFloors.push(await floorExport(pkg, importedDisk, work));
        for (const run of r % 2 ? [floor, ours] : [ours, floor]) await run();
      }
    }),
  );
  if (!exportCheck?.vmdkEqualsSource)
    throw new Error(
      `The exported OVA does not read back as the source: ${JSON.stringify(exportCheck)}`,
    );
  await bench.deleteAll([imported!.vmId]);
  await rm(pkg.ova);

  // ------------------------------------------------------------ memory with a larger package
  let large = null;
  if (LARGE_GIB > 0) {
    log(`memory: one import and one export of a ${LARGE_GIB} GiB package`);
    const big = await buildPackage(work, Math.round(LARGE_GIB * 1024) * MiB);
    const bigImport = await peakRss(pids, () => dollyImport(bench, big, target, 'imported-large'));
    const bigVm = bigImport.result.vm;
    const file = join(work, 'exported-large.ova');
    const bigExport = await peakRss(pids, () => dollyExport(stack, bigVm.vmId, file));
    const exportedBytes = statSync(file).size;
    await rm(file);
    await bench.deleteAll([bigVm.vmId]);
    await rm(big.ova);
    await rm(big.raw);
    large = {
      capacityBytes: big.capacityBytes,
      ovaBytes: big.ovaBytes,
      vmdkBytes: big.vmdkBytes,
      import: {
        seconds: round(bigImport.result.ms / 1000, 2),
        taskEventsMsFromSend: bigImport.result.taskEventsMs,
        peakRssBytes: maxOf(bigImport.peaks),
        peakRssBytesByProcess: bigImport.peaks,
        highWaterMarkBytesByProcess: bigImport.highWaterMarks,
        sampledPeakRssBytesByProcess: bigImport.sampledPeaks,
        rssBeforeBytesByProcess: bigImport.rssBefore,
        peakMarkResetBeforePhase: bigImport.markReset,
      },
      export: {
        seconds: round(bigExport.result.ms / 1000, 2),
        taskEventsMsFromRequest: bigExport.result.taskEventsMs,
        exportedBytes,
        peakRssBytes: maxOf(bigExport.peaks),
        peakRssBytesByProcess: bigExport.peaks,
        highWaterMarkBytesByProcess: bigExport.highWaterMarks,
        sampledPeakRssBytesByProcess: bigExport.sampledPeaks,
        rssBeforeBytesByProcess: bigExport.rssBefore,
        peakMarkResetBeforePhase: bigExport.markReset,
      },
    };
  }
  await rm(pkg.raw);

  // ------------------------------------------------------------ report
  const importDolly = median(imports.map((i) => i.ms)) / 1000;
  const importFloor = median(importFloors.map(floorMs)) / 1000;
  const exportDolly = median(exportsMs) / 1000;
  const exportFloor = median(exportFloors.map(floorMs)) / 1000;
  const importRatio = importDolly / importFloor;
  const exportRatio = exportDolly / exportFloor;
  const importPeak = maxOf(importRun.peaks);
  const exportPeak = maxOf(exportRun.peaks);
  const underGoal = (bytes: number) => bytes < GOALS.peakRssBytesPerProcess;
  const met = {
    importRatio: importRatio <= GOALS.ratioToFloor,
    exportRatio: exportRatio <= GOALS.ratioToFloor,
    importPeakRss: underGoal(importPeak),
    exportPeakRss: underGoal(exportPeak),
    largeImportPeakRss: large ? underGoal(large.import.peakRssBytes) : null,
    largeExportPeakRss: large ? underGoal(large.export.peakRssBytes) : null,
  };
  const steps = (timings: FloorTiming[], first: string, second: string) => ({
    [`${first}Seconds`]: timings.map((t) => round(t.firstMs / 1000, 3)),
    [`${second}Seconds`]: timings.map((t) => round(t.secondMs / 1000, 3)),
    syncSeconds: timings.map((t) => round(t.syncMs / 1000, 3)),
  });
  const result = {
    parameters: {
      capacityBytes: pkg.capacityBytes,
      allocatedBytes: pkg.capacityBytes / 2,
      layout:
        'every other 1 MiB written (half random bytes, half repeated text), the rest a hole; one disk',
      ovaBytes: pkg.ovaBytes,
      vmdkBytes: pkg.vmdkBytes,
      packageBuildSeconds: round(pkg.buildSeconds, 2),
      repeats: REPEATS,
      largeGiB: LARGE_GIB,
      diskFormat: 'as-in-package (thin)',
      placement: 'package, floor work and downloads beside the datastore (same file system)',
      device,
      processes: pids,
    },
    load: {
      loadAverageBefore: loadBefore.map((l) => round(l, 2)),
      loadAverageAfter: loadavg().map((l) => round(l, 2)),
      note: 'the machine is shared: other processes run beside the benchmark',
    },
    import: {
      secondsDolly: round(importDolly, 3),
      secondsFloor: round(importFloor, 3),
      ratioToFloor: round(importRatio, 3),
      peakRssBytes: importPeak,
      peakRssBytesByProcess: importRun.peaks,
      highWaterMarkBytesByProcess: importRun.highWaterMarks,
      sampledPeakRssBytesByProcess: importRun.sampledPeaks,
      rssBeforeBytesByProcess: importRun.rssBefore,
      peakMarkResetBeforePhase: importRun.markReset,
      dollySeconds: imports.map((i) => round(i.ms / 1000, 3)),
      dollyAnsweredSeconds: imports.map((i) => round(i.answeredMs / 1000, 3)),
      dollyTaskEventsMsFromSend: imports.map((i) => i.taskEventsMs),
      floorSeconds: importFloors.map((t) => round(floorMs(t) / 1000, 3)),
      floorSteps: steps(importFloors, 'tarExtract', 'qemuImgConvert'),
      importedDiskEqualsSource: importedEqualsSource,
      load: loadSummary(importRun.result.load),
      floor:
        'tar -xf app.ova + qemu-img convert -f vmdk -O qcow2 + sync of the file and its folder',
      dolly:
        'POST /vms/import (multipart, streamed from disk) until the task succeeded and the VM reads ready',
    },
    export: {
      secondsDolly: round(exportDolly, 3),
      secondsFloor: round(exportFloor, 3),
      ratioToFloor: round(exportRatio, 3),
      peakRssBytes: exportPeak,
      peakRssBytesByProcess: exportRun.peaks,
      highWaterMarkBytesByProcess: exportRun.highWaterMarks,
      sampledPeakRssBytesByProcess: exportRun.sampledPeaks,
      rssBeforeBytesByProcess: exportRun.rssBefore,
      peakMarkResetBeforePhase: exportRun.markReset,
      dollySeconds: exportsMs.map((ms) => round(ms / 1000, 3)),
      dollyTaskEventsMsFromRequest: exportTaskEvents,
      floorSeconds: exportFloors.map((t) => round(floorMs(t) / 1000, 3)),
      floorSteps: steps(exportFloors, 'qemuImgConvert', 'tarCreate'),
      check: exportCheck,
      load: loadSummary(exportRun.result.load),
      floor:
        'qemu-img convert -O vmdk -o subformat=streamOptimized of the imported disk + tar -cf of descriptor, manifest, VMDK + sync',
      dolly: 'GET /vms/{id}/export.ova streamed to a file, then fsync',
    },
    large,
    goals: {
      ratioToFloor: GOALS.ratioToFloor,
      peakRssBytesPerProcess: GOALS.peakRssBytesPerProcess,
      met,
    },
    durationSeconds: round((performance.now() - startedAt) / 1000),
  };
  const verdict = (ok: boolean | null) => (ok === null ? 'skipped' : ok ? 'met' : 'NOT met');
  const rssGoal = `< ${GOALS.peakRssBytesPerProcess / MiB} MiB each`;
  report(
    'ova',
    [
      [
        `import ${PACKAGE_GIB} GiB OVA (median s)`,
        round(importDolly, 2),
        round(importFloor, 2),
        `${round(importRatio, 2)}x`,
        `<= ${GOALS.ratioToFloor}x: ${verdict(met.importRatio)}`,
      ],
      [
        `export ${PACKAGE_GIB} GiB (median s)`,
        round(exportDolly, 2),
        round(exportFloor, 2),
        `${round(exportRatio, 2)}x`,
        `<= ${GOALS.ratioToFloor}x: ${verdict(met.exportRatio)}`,
      ],
      [
        `import ${PACKAGE_GIB} GiB: peak RSS`,
        peaksLine(importRun.peaks, importRun.rssBefore),
        '',
        '',
        `${rssGoal}: ${verdict(met.importPeakRss)}`,
      ],
      [
        `export ${PACKAGE_GIB} GiB: peak RSS`,
        peaksLine(exportRun.peaks, exportRun.rssBefore),
        '',
        '',
        `${rssGoal}: ${verdict(met.exportPeakRss)}`,
      ],
      [
        `import ${LARGE_GIB || 'larger'} GiB: peak RSS`,
        large
          ? peaksLine(large.import.peakRssBytesByProcess, large.import.rssBeforeBytesByProcess)
          : 'skipped',
        '',
        '',
        `${rssGoal}: ${verdict(met.largeImportPeakRss)}`,
      ],
      [
        `export ${LARGE_GIB || 'larger'} GiB: peak RSS`,
        large
          ? peaksLine(large.export.peakRssBytesByProcess, large.export.rssBeforeBytesByProcess)
          : 'skipped',
        '',
        '',
        `${rssGoal}: ${verdict(met.largeExportPeakRss)}`,
      ],
      [
        'read back (qemu-img compare with the source)',
        `import ${importedEqualsSource ? 'equal' : 'DIFFERS'}, export ${exportCheck.vmdkEqualsSource ? 'equal' : 'DIFFERS'}`,
        '',
        '',
        `manifest ${exportCheck.manifestChecks ? 'checks' : 'FAILS'}, descriptor ${exportCheck.descriptorFirst ? 'first' : 'NOT first'}`,
      ],
    ],
    ['Measure', 'Dolly', 'Floor', 'Ratio', 'Goal'],
    result,
  );
});
