/**
 * npm run bench:clones: cloning through the whole of Dolly (HTTP → event store → Kafka → worker
 * → disk engine → events → projector → read model), against bare QEMU on the same files in the
 * same run:
 *  1. full clones of a 1 GiB VM holding 512 MiB of data, with 1, 2 and 4 workers (each worker
 *     serves the source datastore and a target of its own; clone k goes to target k mod N), and
 *     the machine's floor for the same shape: N bare `qemu-img convert` processes, and N raw
 *     copies of the image file (dd), each followed by fsync;
 *  2. one full clone end to end (command sent → task succeeded and VM ready in the read model)
 *     against bare `qemu-img convert -O qcow2` of the same chain + fsync, same datastore, thin;
 *  3. linked clones from a snapshot, one at a time (latency) and 8 at a time (rate), against bare
 *     `qemu-img create -f qcow2 -b <snapshot layer> -F qcow2` + fsync;
 *  4. deploying from a template (a straight copy) against cloning the same VM while it runs (a
 *     point-in-time copy of a live disk through the storage daemon), same content, thin.
 * Phases run one after the other (2 cores); the order is 2, 4, 3, 1 because the scaling runs
 * start the extra workers, and from then on the source datastore must not be written.
 *
 * BENCH_CLONES_PER_RUN (default 12) full clones per scaling run; BENCH_CLONES_REPEATS (5) single
 * clones, deploys and live clones each; BENCH_LINKED_CLONES (100) sequential linked clones;
 * BENCH_LINKED_BURST (48) linked clones sent 3, then 8, at a time.
 */
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { GiB, MiB, registerDatastore, registerHost, vmDefinition } from '../test/support/inventory';
import { layerFile, qemuImgInfo, qemuIo, sameContent } from '../test/support/disks';
import { type BareTiming, bareConvert, bareMs, bareOverlay, exec, rawCopy } from './bare-qemu';
import { BenchWorker } from './bench-workers';
import { type HostLoad, deviceOf, underLoad } from './host-load';
import { report, round } from './support';
import {
  Bench,
  runBenchmark,
  type Done,
  lanes,
  latency,
  loadSummary,
  log,
  median,
  medianTimeline,
  settle,
  split,
} from './timed-commands';

const CLONES_PER_RUN = Number(process.env.BENCH_CLONES_PER_RUN ?? 12);
const REPEATS = Number(process.env.BENCH_CLONES_REPEATS ?? 5);
const LINKED_CLONES = Number(process.env.BENCH_LINKED_CLONES ?? 100);
const LINKED_BURST = Number(process.env.BENCH_LINKED_BURST ?? 48);
/**
 * Linked clones sent at once: as many as one worker runs at once (DOLLY_WORKER_CONCURRENT_JOBS,
 * 3 by default), and more than that, as a burst of users would.
 */
const LINKED_CONCURRENCIES = [3, 8] as const;
const WORKER_COUNTS = [1, 2, 4] as const;
const SOURCE_CAPACITY_BYTES = GiB;
/** Every other MiB of the source is written: half-allocated, the rest reads as zeros. */
const DATA_BYTES = SOURCE_CAPACITY_BYTES / 2;
const GOALS = { fullCloneOverheadRatio: 1.2, linkedP99OverheadMs: 50 };

interface Datastore {
  datastoreId: string;
  folder: string;
}

runBenchmark(async (stack, workers) => {
  const loadBefore = loadavg();
  const startedAt = performance.now();
  const bench = new Bench(stack);
  const hostId = await registerHost(stack);
  const datastore = async (): Promise<Datastore> => {
    const folder = stack.datastoreFolder();
    // Each linked clone promises its whole capacity (overcommit × 1): room for a few hundred.
    const capacityBytes = 64 * 1024 * GiB;
    return { datastoreId: await registerDatastore(stack, { folder, capacityBytes }), folder };
  };
  const source = await datastore();
  const targets: Datastore[] = [];
  for (let i = 0; i < Math.max(...WORKER_COUNTS); i++) targets.push(await datastore());
  const device = deviceOf(source.folder);
  const startWorker = async (i: number) => {
    workers.push(
      await BenchWorker.start(stack, `w${i + 1}`, [source.datastoreId, targets[i].datastoreId]),
    );
  };
  await startWorker(0);

  // ------------------------------------------------------------ the source VM
  log(
    `source: 1 GiB thin disk, writing every other MiB (${DATA_BYTES / MiB} MiB) through its export`,
  );
  const created = await bench.command(
    'POST',
    '/vms',
    vmDefinition(hostId, source.datastoreId, 'bench-source', [
      { capacityBytes: SOURCE_CAPACITY_BYTES, format: 'thin' },
    ]),
  );
  const sourceVmId = created.vmId;
  await bench.command('POST', `/vms/${sourceVmId}/power-on`);
  const writes = Array.from(
    { length: DATA_BYTES / MiB },
    (_, i) => `write -P ${0x10 + (i % 0xe0)} ${2 * i * MiB} ${MiB}`,
  );
  await qemuIo((await bench.vm(sourceVmId)).live!.exports[0].uri, ...writes);
  await bench.command('POST', `/vms/${sourceVmId}/power-off`);
  const sourceTop = async () =>
    layerFile(source.folder, (await bench.vm(sourceVmId)).disks[0].layerId!);
  const clusterSizeBytes =
    ((await qemuImgInfo(await sourceTop())) as { 'cluster-size'?: number })['cluster-size'] ??
    64 * 1024;
  const fullClone = (datastoreId: string, name: string) =>
    bench.command('POST', `/vms/${sourceVmId}/clone`, { name, datastoreId, format: 'thin' });
  const tgt1 = targets[0];

  // ------------------------------------------------------------ 2. one full clone vs bare
  log(`phase 2: full clone end to end vs bare qemu-img convert + fsync, ${REPEATS} each`);
  const single: Done[] = [];
  const singleBare: BareTiming[] = [];
  let cloneMatchesSource = false;
  await exec('sync', []);
  for (let r = 0; r < REPEATS; r++) {
    const ours = async () => {
      const done = await fullClone(tgt1.datastoreId, `single-${r}`);
      if (r === 0)
        cloneMatchesSource = await sameContent(
          await sourceTop(),
          layerFile(tgt1.folder, done.layerId!),
        );
      single.push(done);
      await bench.deleteAll([done.vmId]);
    };
    const bare = async () => {
      const out = join(tgt1.folder, `bare-single-${r}.qcow2`);
      singleBare.push(await bareConvert(await sourceTop(), out, clusterSizeBytes));
      await rm(out);
    };
    // Alternating who goes first, so that neither always meets the other's dirty pages.
    for (const run of r % 2 ? [bare, ours] : [ours, bare]) await run();
  }
  if (!cloneMatchesSource) throw new Error('The full clone does not read as its source');
  const fullCloneTrace = await bench.traced(workers[0], () =>
    fullClone(tgt1.datastoreId, 'traced'),
  );
  await bench.deleteAll([fullCloneTrace.vmId]);
  const singleMs = median(single.map((d) => d.totalMs));
  const singleBareMs = median(singleBare.map(bareMs));
  const singleBareNoSyncMs = median(singleBare.map((t) => t.writeMs));

  // ------------------------------------------------------------ 4. deploy vs live clone
  log(`phase 4: clone of the running VM vs deploy from template, ${REPEATS} each`);
  await bench.command('POST', `/vms/${sourceVmId}/power-on`);
  const live: Done[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const done = await fullClone(tgt1.datastoreId, `live-${r}`);
    live.push(done);
    await bench.deleteAll([done.vmId]);
  }
  await bench.command('POST', `/vms/${sourceVmId}/power-off`);
  await bench.command('POST', `/vms/${sourceVmId}/convert-to-template`);
  const deployed: Done[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const done = await bench.command('POST', `/templates/${sourceVmId}/deploy`, {
      name: `deployed-${r}`,
      datastoreId: tgt1.datastoreId,
      format: 'thin',
    });
    deployed.push(done);
    await bench.deleteAll([done.vmId]);
  }
  await bench.command('POST', `/vms/${sourceVmId}/convert-to-vm`);
  const liveMs = median(live.map((d) => d.totalMs));
  const deployMs = median(deployed.map((d) => d.totalMs));

  // ------------------------------------------------------------ 3. linked clones
  log(
    `phase 3: ${LINKED_CLONES} linked clones one at a time, ${LINKED_BURST} sent ${LINKED_CONCURRENCIES.join(', then ')} at a time, vs bare`,
  );
  const snapped = await bench.command('POST', `/vms/${sourceVmId}/snapshots`, { name: 'golden' });
  const snapshotId = (await bench.vm(snapped.vmId)).snapshots[0].snapshotId;
  const snapshotFile = (await qemuImgInfo(await sourceTop()))['backing-filename']!;
  const linkedClone = (name: string) =>
    bench.command('POST', `/vms/${sourceVmId}/clone`, { name, linked: true, snapshotId });
  let overlays = 0;
  const bareLinked = async () => {
    const name = `bare-link-${overlays++}.qcow2`;
    const timing = await bareOverlay(source.folder, snapshotFile, name);
    await rm(join(source.folder, name));
    return timing;
  };
  // Warm-up: the engine's overlay template for this base, JIT, connections.
  for (let i = 0; i < 3; i++) {
    await linkedClone(`linked-warm-${i}`);
    await bareLinked();
  }
  const linked: Done[] = [];
  const linkedBare: BareTiming[] = [];
  for (let i = 0; i < LINKED_CLONES; i++) {
    const ours = async () => linked.push(await linkedClone(`linked-${i}`));
    const bare = async () => linkedBare.push(await bareLinked());
    for (const run of i % 2 ? [bare, ours] : [ours, bare]) await run();
  }
  // Bursts keep going past a failed clone: what fails, and how, is part of the result.
  const bursts = [];
  for (const concurrency of LINKED_CONCURRENCIES) {
    const resentBefore = bench.resent();
    const ours = await lanes(concurrency, LINKED_BURST, (k) =>
      settle(linkedClone(`linked-burst-${concurrency}-${k}`)),
    );
    const bare = await lanes(concurrency, LINKED_BURST, () => bareLinked());
    const { done, failed, failureCodes } = split(ours.results);
    bursts.push({
      concurrency,
      sent: LINKED_BURST,
      succeeded: done.length,
      failed,
      failureCodes,
      resent409: bench.resent() - resentBefore,
      dollyPerSecond: round(done.length / (ours.wallMs / 1000), 2),
      dollyMs: latency(done.map((d) => d.totalMs)),
      dollyTimelineMedianMs: medianTimeline(done),
      barePerSecond: round(LINKED_BURST / (bare.wallMs / 1000), 2),
    });
  }
  const linkedTrace = await bench.traced(workers[0], () => linkedClone('linked-traced'));
  const linkedMs = latency(linked.map((d) => d.totalMs));
  const linkedBareMs = latency(linkedBare.map(bareMs));
  const linkedBareNoSyncMs = latency(linkedBare.map((t) => t.writeMs));

  // ------------------------------------------------------------ 1. scaling with workers
  // From here on the source datastore is only read: every worker serves it.
  const top = await sourceTop();
  // The snapshot's layer holds the data (the top is the empty delta taken over it).
  const dataFile = join(source.folder, snapshotFile);
  const scaling = [];
  for (const n of WORKER_COUNTS) {
    while (workers.length < n) await startWorker(workers.length);
    log(`phase 1: ${CLONES_PER_RUN} full clones with ${n} worker(s), ${n} at a time`);
    await exec('sync', []);
    // What the stack costs doing nothing (consumers polling, heartbeats, scans), to set apart.
    const idle = await underLoad(device, () => new Promise((resolve) => setTimeout(resolve, 3000)));
    const ours = await underLoad(device, () =>
      lanes(n, CLONES_PER_RUN, (k) =>
        settle(fullClone(targets[k % n].datastoreId, `scale-${n}-${k}`)),
      ),
    );
    const { done: clones, failed, failureCodes } = split(ours.result.results);
    await bench.deleteAll(clones.map((d) => d.vmId));
    await exec('sync', []);
    const bare = await underLoad(device, () =>
      lanes(n, CLONES_PER_RUN, async (k) => {
        const out = join(targets[k % n].folder, `bare-scale-${k}.qcow2`);
        const timing = await bareConvert(top, out, clusterSizeBytes);
        await rm(out);
        return timing;
      }),
    );
    await exec('sync', []);
    // One raw copy per lane: the bandwidth the disk gives N writers, for the same bytes.
    const raw = await underLoad(device, () =>
      lanes(n, n, async (k) => {
        const out = join(targets[k].folder, `raw-copy-${k}`);
        const timing = await rawCopy(dataFile, out);
        await rm(out);
        return timing;
      }),
    );
    const perClone = (load: HostLoad) =>
      load.processTreeCpuMs === null ? null : round(load.processTreeCpuMs / CLONES_PER_RUN);
    const dataGiB = (count: number) => (count * DATA_BYTES) / GiB;
    const perWorker = new Map<string, number>();
    for (const d of clones) perWorker.set(d.workerId, (perWorker.get(d.workerId) ?? 0) + 1);
    scaling.push({
      workers: n,
      dolly: {
        wallMs: round(ours.result.wallMs),
        failed,
        failureCodes,
        clonesPerSecond: round(clones.length / (ours.result.wallMs / 1000), 3),
        dataGiBPerSecond: round(dataGiB(clones.length) / (ours.result.wallMs / 1000), 3),
        cloneMs: latency(clones.map((d) => d.totalMs)),
        timelineMedianMs: medianTimeline(clones),
        clonesPerWorker: Object.fromEntries(perWorker),
        cpuMsPerClone: perClone(ours.load),
        idleProcessTreeCpuMsPerSecond:
          idle.load.processTreeCpuMs === null ? null : round(idle.load.processTreeCpuMs / 3),
        idleLoad3s: loadSummary(idle.load),
        load: loadSummary(ours.load),
      },
      bareConvert: {
        wallMs: round(bare.result.wallMs),
        clonesPerSecond: round(CLONES_PER_RUN / (bare.result.wallMs / 1000), 3),
        dataGiBPerSecond: round(dataGiB(CLONES_PER_RUN) / (bare.result.wallMs / 1000), 3),
        convertMsMedian: round(median(bare.result.results.map((t) => t.writeMs))),
        fsyncMsMedian: round(median(bare.result.results.map((t) => t.fsyncMs))),
        cpuMsPerClone: perClone(bare.load),
        load: loadSummary(bare.load),
      },
      rawCopy: {
        wallMs: round(raw.result.wallMs),
        fileGiBPerSecond: round(
          (n * statSync(dataFile).size) / GiB / (raw.result.wallMs / 1000),
          3,
        ),
        load: loadSummary(raw.load),
      },
    });
  }

  // ------------------------------------------------------------ report
  const base = scaling[0];
  const scalingRows = scaling.map((s) => ({
    ...s,
    ratioVsOneWorker: round(s.dolly.clonesPerSecond / base.dolly.clonesPerSecond, 2),
    bareRatioVsOneProcess: round(
      s.bareConvert.clonesPerSecond / base.bareConvert.clonesPerSecond,
      2,
    ),
    dollyToBareFloor: round(s.dolly.clonesPerSecond / s.bareConvert.clonesPerSecond, 2),
  }));
  const overheadRatio = singleMs / singleBareMs;
  const linkedOverheadP99 = linkedMs.p99 - linkedBareMs.p99;
  const result = {
    parameters: {
      sourceCapacityBytes: SOURCE_CAPACITY_BYTES,
      sourceDataBytes: DATA_BYTES,
      sourceLayout: 'every other 1 MiB written (pattern bytes), the rest unallocated',
      clusterSizeBytes,
      clonesPerScalingRun: CLONES_PER_RUN,
      workerCounts: WORKER_COUNTS,
      repeats: REPEATS,
      linkedClones: LINKED_CLONES,
      linkedBurst: { clones: LINKED_BURST, concurrencies: LINKED_CONCURRENCIES },
      format: 'thin',
      datastores: 'one folder each on the same file system (same device)',
      device,
    },
    load: {
      loadAverageBefore: loadBefore.map((l) => round(l, 2)),
      loadAverageAfter: loadavg().map((l) => round(l, 2)),
      note: 'the machine is shared: other processes run beside the benchmark',
    },
    scaling: scalingRows,
    fullCloneOverhead: {
      dollyEndToEndMs: single.map((d) => round(d.totalMs)),
      dollyAcceptMs: single.map((d) => round(d.timeline.acceptMs)),
      dollyTimelineMedianMs: medianTimeline(single),
      workerProcessTrace: fullCloneTrace,
      bareConvertMs: singleBare.map((t) => round(t.writeMs)),
      bareFsyncMs: singleBare.map((t) => round(t.fsyncMs)),
      dollyMedianMs: round(singleMs),
      bareWithFsyncMedianMs: round(singleBareMs),
      bareWithoutFsyncMedianMs: round(singleBareNoSyncMs),
      ratio: round(overheadRatio, 3),
      ratioToBareWithoutFsync: round(singleMs / singleBareNoSyncMs, 3),
      goal: GOALS.fullCloneOverheadRatio,
      met: overheadRatio <= GOALS.fullCloneOverheadRatio,
      cloneReadsAsSource: cloneMatchesSource,
      note: "bare side: qemu-img convert then sync of the file and its folder (Dolly's engine fsyncs the image, renames it, fsyncs the folder)",
    },
    linkedClones: {
      sequential: {
        dollyMs: linkedMs,
        dollyTimelineMedianMs: medianTimeline(linked),
        workerProcessTrace: linkedTrace,
        bareWithFsyncMs: linkedBareMs,
        bareWithoutFsyncMs: linkedBareNoSyncMs,
        overheadAtP99Ms: round(linkedOverheadP99, 2),
        overheadAtP99WithoutFsyncMs: round(linkedMs.p99 - linkedBareNoSyncMs.p99, 2),
        goalOverheadAtP99Ms: GOALS.linkedP99OverheadMs,
        met: linkedOverheadP99 <= GOALS.linkedP99OverheadMs,
        rawDollyMs: linked.map((d) => round(d.totalMs, 2)),
        // The worker's part, clone after clone: whether it grows with the layers on the datastore.
        rawDollyWorkMs: linked.map((d) => round(d.timeline.workMs, 2)),
        // The API's part: it reads the source VM's whole stream, which every clone lengthens.
        rawDollyAcceptMs: linked.map((d) => round(d.timeline.acceptMs, 2)),
        rawBareMs: linkedBare.map((t) => round(bareMs(t), 2)),
      },
      bursts,
    },
    deployVersusLiveClone: {
      deployMs: deployed.map((d) => round(d.totalMs)),
      liveCloneMs: live.map((d) => round(d.totalMs)),
      deployMedianMs: round(deployMs),
      liveCloneMedianMs: round(liveMs),
      deployTimelineMedianMs: medianTimeline(deployed),
      liveCloneTimelineMedianMs: medianTimeline(live),
      ratioDeployToLiveClone: round(deployMs / liveMs, 3),
      note: 'deploy: qemu-img convert of the template chain; live clone: a backup job in the storage daemon of the running VM (point in time)',
    },
    conflictsResent: bench.conflicts,
    durationSeconds: round((performance.now() - startedAt) / 1000),
  };
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  report(
    'clones',
    [
      ...scalingRows.map((s) => [
        `1. full clones, ${s.workers} worker(s), ${s.workers} at a time`,
        `${s.dolly.clonesPerSecond}/s, ${s.dolly.dataGiBPerSecond} GiB/s`,
        `${s.bareConvert.clonesPerSecond}/s, ${s.bareConvert.dataGiBPerSecond} GiB/s (raw ${s.rawCopy.fileGiBPerSecond} GiB/s)`,
        `${s.ratioVsOneWorker}x vs 1 worker (bare ${s.bareRatioVsOneProcess}x); ${s.dollyToBareFloor}x floor`,
        `${s.dolly.failed ? `${s.dolly.failed} FAILED (${s.dolly.failureCodes.join(', ')}); ` : ''}machine cpu ${s.dolly.load.cpuBusyPercent}% (bare ${s.bareConvert.load.cpuBusyPercent}%), disk ${s.dolly.load.diskUtilisationPercent}% (bare ${s.bareConvert.load.diskUtilisationPercent}%); cpu/clone ${s.dolly.cpuMsPerClone} ms (bare ${s.bareConvert.cpuMsPerClone})`,
      ]),
      [
        '2. full clone end to end (median ms)',
        round(singleMs),
        `${round(singleBareMs)} (no fsync ${round(singleBareNoSyncMs)})`,
        `${round(overheadRatio, 2)}x`,
        `<= ${GOALS.fullCloneOverheadRatio}x: ${met(overheadRatio <= GOALS.fullCloneOverheadRatio)}`,
      ],
      [
        '3. linked clone p50 / p99 ms',
        `${linkedMs.p50} / ${linkedMs.p99}`,
        `${linkedBareMs.p50} / ${linkedBareMs.p99}`,
        `+${round(linkedOverheadP99)} ms at p99`,
        `<= +${GOALS.linkedP99OverheadMs} ms: ${met(linkedOverheadP99 <= GOALS.linkedP99OverheadMs)}`,
      ],
      ...bursts.map((b) => [
        `3. linked clones/s, ${b.concurrency} at a time (p50 / p99 ms)`,
        `${b.dollyPerSecond}/s (${b.dollyMs.p50} / ${b.dollyMs.p99})`,
        `${b.barePerSecond}/s`,
        `${round(b.dollyPerSecond / b.barePerSecond, 2)}x`,
        `${b.failed} of ${b.sent} failed${b.failed ? ` (${[...new Set(b.failureCodes)].join(', ')})` : ''}; ${b.resent409} resent after 409`,
      ]),
      [
        '4. deploy from template / clone running VM (median ms)',
        `${round(deployMs)} / ${round(liveMs)}`,
        '',
        `${round(deployMs / liveMs, 2)}x`,
        '',
      ],
    ],
    ['Measure', 'Dolly', 'Bare / floor', 'Ratio', 'Goal / load'],
    result,
  );
});
