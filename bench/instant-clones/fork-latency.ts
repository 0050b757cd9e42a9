/**
 * Phase 1, fork latency: forks of one running parent, one at a time, each beside the two overlays
 * a fork needs made by hand (the floor), alternating who goes first.
 */
import { deviceOf, underLoad } from '../host-load';
import { latency, log } from '../timed-commands';
import { type Lab } from './lab';
import { folderAllocatedBytes } from './measures';
import { FORKS, WARM_UP_FORKS } from './settings';

export async function measureForkLatency(lab: Lab) {
  log(`phase 1: golden image (small) and its running parent`);
  const site = await lab.site('w1');
  const device = deviceOf(site.datastore.folder);
  const folder = site.datastore.folder;
  const smallGolden = await lab.goldenOf('small', site.datastore, 'small');
  const small = await lab.parentOf(smallGolden, 'small');
  const idleCpuMsPerSecond = await lab.measureIdleCpu();
  log(`phase 1: ${WARM_UP_FORKS} warm-up forks, then ${FORKS} forks one at a time, vs bare`);
  const warm = [];
  for (let i = 0; i < WARM_UP_FORKS; i++) warm.push(await lab.forkWithFiles(small, `warm-${i}`));
  const smallBases = await lab.basesOf(warm[0].files);
  await lab.barePair(folder, smallBases);
  const folderBefore = folderAllocatedBytes(folder);
  const forks: Awaited<ReturnType<Lab['forkWithFiles']>>[] = [];
  const bare: Awaited<ReturnType<Lab['barePair']>>[] = [];
  const sequential = await underLoad(device, async () => {
    for (let i = 0; i < FORKS; i++) {
      const ours = async () => forks.push(await lab.forkWithFiles(small, `ic-${i}`));
      const theirs = async () => bare.push(await lab.barePair(folder, smallBases));
      // Alternating who goes first, so that neither always meets the other's dirty pages.
      for (const run of i % 2 ? [theirs, ours] : [ours, theirs]) await run();
    }
  });
  const folderGrowthPerClone = (folderAllocatedBytes(folder) - folderBefore) / FORKS;
  const traced = await lab.bench.traced(site.worker, () => lab.fork(small, 'ic-traced'));
  // Not timed: every tenth clone reads as the parent through its own exports.
  const checked = forks.filter((_, i) => i % 10 === 0);
  let serving = 0;
  for (const f of checked) if (await lab.servesParent(f.done.vm!)) serving++;
  const forkMs = latency(forks.map((f) => f.done.totalMs));
  const forkTaskSucceededMs = latency(
    forks.map((f) => f.done.totalMs - f.done.timeline.toReadModelMs),
  );
  const bareMsAll = latency(bare.map((b) => b.wallMs));
  const bareNoSyncMs = latency(bare.map((b) => Math.max(b.disk.writeMs, b.memory.writeMs)));
  const streams = {
    parentEvents: await lab.streamLength('vm', small.vmId),
    goldenEvents: await lab.streamLength('vm', smallGolden.vmId),
    datastoreEvents: await lab.streamLength('datastore', site.datastore.datastoreId),
  };
  return {
    /** The phase's worker and datastore: phase 3 goes on with them, then retires them. */
    site,
    device,
    folder,
    forks,
    bare,
    folderGrowthPerClone,
    traced,
    checked,
    serving,
    forkMs,
    forkTaskSucceededMs,
    bareMsAll,
    bareNoSyncMs,
    streams,
    sequential,
    idleCpuMsPerSecond,
  };
}

export type ForkLatency = Awaited<ReturnType<typeof measureForkLatency>>;
