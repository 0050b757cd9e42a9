/**
 * Phase 3, bytes per clone: what a fork's overlays take until it writes, with the small image of
 * phase 1 and a large one, against a bare overlay pair; what a first write adds; and how an
 * operator removes a fork made through the API. On phase 1's worker, retired at the end.
 */
import { allocatedBytes, qemuIo } from '../../test/support/disks';
import { MiB } from '../../test/support/inventory';
import { exec } from '../bare-qemu';
import { round, summarise } from '../support';
import { type Done, latency, log } from '../timed-commands';
import { type ForkLatency } from './fork-latency';
import { type Lab } from './lab';
import { type CloneFiles, bytesSummary } from './measures';
import { IMAGES, SIZE_FORKS } from './settings';

export async function measureBytesPerClone(lab: Lab, phase1: ForkLatency) {
  const { site, folder, forks, bare, folderGrowthPerClone } = phase1;
  log(`phase 3: golden image (large: 1 GiB data, 1 GiB memory), ${SIZE_FORKS} forks`);
  const largeGolden = await lab.goldenOf('large', site.datastore, 'large');
  const large = await lab.parentOf(largeGolden, 'large');
  const largeForks = [];
  for (let i = 0; i < SIZE_FORKS; i++) largeForks.push(await lab.forkWithFiles(large, `icl-${i}`));
  const bareLarge = await lab.barePair(folder, await lab.basesOf(largeForks[0].files));
  let largeServing = 0;
  for (const f of largeForks.slice(0, 3)) if (await lab.servesParent(f.done.vm!)) largeServing++;
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
  const offForDelete = await lab.bench.command('POST', `/vms/${forks[1].done.vmId}/power-off`);
  const deleted = await lab.bench.send('DELETE', `/vms/${offForDelete.vmId}`, undefined, {});
  const standaloneCloneDeletion = {
    vm: { role: offForDelete.vm?.role, origin: offForDelete.vm?.origin },
    powerOff: 'succeeded',
    deleteStatus: deleted.status,
    deleteAnswer: deleted.body,
  };
  await lab.retire(site);
  return { bytesPerClone, standaloneCloneDeletion };
}

export type BytesPerClone = Awaited<ReturnType<typeof measureBytesPerClone>>['bytesPerClone'];
