/** The instant-clone benchmark's table and its results file (bench/results/instant-clones.json). */
import { loadavg } from 'node:os';
import { MiB } from '../../test/support/inventory';
import { report, round } from '../support';
import { loadSummary, medianTimeline } from '../timed-commands';
import { type BytesPerClone } from './bytes-per-clone';
import { type ForkLatency } from './fork-latency';
import { type Lab } from './lab';
import { type PoolAtScale, byFifth, cpuSplit } from './measures';
import {
  API_CONCURRENCY,
  BURST,
  FORKS,
  GOALS,
  IMAGES,
  POOL_MAX,
  POOL_SPARES,
  RUSH_USERS,
  SIZE_FORKS,
  WARM_UP_FORKS,
  WORKER_JOBS,
} from './settings';
import { type Throughput } from './throughput';

export interface Measured {
  /** The load average when the benchmark began, and when (performance.now()). */
  loadBefore: number[];
  startedAt: number;
  forkLatency: ForkLatency;
  bytesPerClone: BytesPerClone;
  standaloneCloneDeletion: Record<string, unknown>;
  throughput: Throughput;
  poolAtScale: PoolAtScale;
}

export function reportInstantClones(lab: Lab, measured: Measured): void {
  const { loadBefore, startedAt, bytesPerClone, standaloneCloneDeletion } = measured;
  const { device, forks, bare, forkMs, bareMsAll, sequential } = measured.forkLatency;
  const { throughput, bareFloors, placement, teardowns } = measured.throughput;
  const scale = measured.poolAtScale;
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
      dollyToTaskSucceededMs: measured.forkLatency.forkTaskSucceededMs,
      dollyTimelineMedianMs: medianTimeline(forks.map((f) => f.done)),
      bareOverlayPairWithFsyncMs: bareMsAll,
      bareOverlayPairWithoutFsyncMs: measured.forkLatency.bareNoSyncMs,
      ratioP50: ratio(forkMs.p50, bareMsAll.p50),
      ratioP99: ratio(forkMs.p99, bareMsAll.p99),
      overheadP50Ms: round(forkMs.p50 - bareMsAll.p50, 2),
      overheadP99Ms: round(forkMs.p99 - bareMsAll.p99, 2),
      goalP99Ms: GOALS.forkP99Ms,
      met: forkMs.p99 < GOALS.forkP99Ms,
      clonesServingParentData: `${measured.forkLatency.serving} of ${measured.forkLatency.checked.length}`,
      workerProcessTrace: measured.forkLatency.traced,
      streamsAfter: measured.forkLatency.streams,
      acceptMsByFifth: byFifth(forks.map((f) => f.done.timeline.acceptMs)),
      workMsByFifth: byFifth(forks.map((f) => f.done.timeline.workMs)),
      dollyCpuMsPerFork: round(cpuSplit(loadSummary(sequential.load)).dolly / FORKS),
      idleDollyCpuMsPerSecond: measured.forkLatency.idleCpuMsPerSecond,
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
    conflictsResent: lab.bench.conflicts,
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
}
