/**
 * Phase 2, clones per second with 1 and 2 workers: pools told to make their spares at once, then
 * forks sent through the API, each worker with its own datastore, golden image and parent;
 * against the same overlay pairs by hand, as many at a time as the workers run jobs.
 */
import { exec } from '../bare-qemu';
import { underLoad } from '../host-load';
import { round } from '../support';
import {
  lanes,
  latency,
  loadSummary,
  log,
  medianTimeline,
  now,
  settle,
  split,
} from '../timed-commands';
import { type Lab, succeededTasks } from './lab';
import {
  type BareFloor,
  type Bases,
  type Golden,
  type Parent,
  type Site,
  type Teardown,
  type ThroughputRun,
  byFifth,
  cpuSplit,
  tally,
} from './measures';
import { API_CONCURRENCY, BURST, WORKER_JOBS } from './settings';

export async function measureThroughput(lab: Lab, device: string | null) {
  const throughput: ThroughputRun[] = [];
  const bareFloors: BareFloor[] = [];
  const placement: Record<string, unknown> = {};
  const teardowns: Record<string, Teardown[]> = {};
  /** N forks from each parent, sent API_CONCURRENCY at a time per parent, all parents at once. */
  const apiBurst = async (parents: Parent[], tag: string) => {
    log(`phase 2: ${tag}: ${BURST} forks per parent, ${API_CONCURRENCY} at a time each`);
    const resentBefore = lab.bench.resent();
    const run = await underLoad(device, () =>
      lanes(API_CONCURRENCY * parents.length, BURST * parents.length, (k) =>
        settle(lab.fork(parents[k % parents.length], `${tag}-${k}`)),
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
      resent409: lab.bench.resent() - resentBefore,
      wallMs: round(run.result.wallMs),
      clonesPerSecond: round(done.length / (run.result.wallMs / 1000), 2),
      forkMs: latency(done.map((d) => d.totalMs)),
      timelineMedianMs: medianTimeline(done),
      acceptMsByFifth: byFifth(done.map((d) => d.timeline.acceptMs)),
      clonesPerWorker: tally(done.map((d) => d.workerId)),
      parentEventsAfter: await Promise.all(parents.map((p) => lab.streamLength('vm', p.vmId))),
      ...lab.cpuPerClone(loadSummary(run.load), run.result.wallMs, done.length),
      load: loadSummary(run.load),
    });
  };
  /** Pools told to make `BURST` spares each at once; done when each shows them all ready. */
  const poolBurst = async (pools: { poolId: string }[]) => {
    log(`phase 2: ${pools.length} pool(s) making ${BURST} spares each at once`);
    const run = await underLoad(device, async () => {
      const sent = now();
      const edited = await Promise.all(
        pools.map((p) =>
          lab.bench.send('PATCH', `/pools/${p.poolId}`, { spareMachines: BURST }, {}),
        ),
      );
      for (const answer of edited)
        if (answer.status !== 200 && answer.status !== 202)
          throw new Error(`PATCH pool: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
      const watched = await Promise.all(
        pools.map((p) =>
          lab.watchPool(
            p.poolId,
            (seen) => seen.counts.spares === BURST && seen.counts.provisioning === 0,
          ),
        ),
      );
      return { sent, watched };
    });
    const { sent, watched } = run.result;
    const tasks = (await Promise.all(pools.map((p) => lab.forkTasks(p.poolId)))).flat();
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
      ...lab.cpuPerClone(loadSummary(run.load), wallMs, ready),
      load: loadSummary(run.load),
    });
  };
  /** The floor: the same overlay pairs by hand, as many at a time as the workers run jobs. */
  const bareBurst = async (where: { folder: string; bases: Bases }[]): Promise<BareFloor> => {
    const count = BURST * where.length;
    const concurrency = WORKER_JOBS * where.length;
    const run = await underLoad(device, () =>
      lanes(concurrency, count, (k) =>
        lab.barePair(where[k % where.length].folder, where[k % where.length].bases),
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
    for (let i = 0; i < n; i++) sites.push(await lab.site(`w${n}${i}`));
    await lab.measureIdleCpu();
    const goldens: Golden[] = [];
    for (const [i, s] of sites.entries())
      goldens.push(await lab.goldenOf('small', s.datastore, `t${n}${i}`));
    const pools = [];
    for (const [i, g] of goldens.entries())
      pools.push(await lab.createPool(g, lab.poolSettings(`p${n}${i}`, BURST, 0)));
    placement[`${n} worker(s): pools' parents run on`] = await Promise.all(
      pools.map((p) => lab.liveOn(p.pool.image.parents[0].parentVmId)),
    );
    await exec('sync', []);
    await poolBurst(pools);
    teardowns[`pools of the ${n}-worker run`] = await Promise.all(
      pools.map((p) => lab.deletePool(p.poolId)),
    );
    const parents: Parent[] = [];
    for (const [i, g] of goldens.entries()) parents.push(await lab.parentOf(g, `t${n}${i}`));
    // The first fork freezes its parent; and it gives the bases for the bare floor.
    const warmed = [];
    for (const [i, p] of parents.entries()) warmed.push(await lab.forkWithFiles(p, `w${n}${i}`));
    placement[`${n} worker(s): API parents run on`] = await Promise.all(
      parents.map((p) => lab.liveOn(p.vmId)),
    );
    await exec('sync', []);
    await apiBurst(parents, `b${n}`);
    await exec('sync', []);
    const where = [];
    for (const [i, s] of sites.entries())
      where.push({ folder: s.datastore.folder, bases: await lab.basesOf(warmed[i].files) });
    bareFloors.push(await bareBurst(where));
    await lab.retire(...sites);
  }
  return { throughput, bareFloors, placement, teardowns };
}

export type Throughput = Awaited<ReturnType<typeof measureThroughput>>;
