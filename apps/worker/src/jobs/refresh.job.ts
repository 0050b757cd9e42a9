import type { JobOutcome, DiskPlacement, LiveExport, RefreshJob } from '@dolly/domain';
import { asVmExport, closeOpen, placementOf } from './engine-steps';
import { type JobContext, operationId } from './job-context';

/**
 * Back to the fork state: each overlay (disks and memory) is replaced by a new empty one over the
 * same frozen base, and reopened. The VM keeps its disks' ids, its name and its MAC.
 */
export async function refresh(job: RefreshJob, context: JobContext): Promise<JobOutcome> {
  const { engine, signal } = context;
  const images = [...job.diskIds, job.memoryImageId];
  await closeOpen(context, images, 'close');
  const disks: DiskPlacement[] = [];
  const opened = new Map<string, LiveExport>();
  for (const diskId of images) {
    const inventory = engine.inventory();
    const top = inventory.layers.find(
      (l) => l.layerId === inventory.disks.find((d) => d.diskId === diskId)?.topLayerId,
    );
    if (!top?.backingLayerId) throw new Error(`Disk ${diskId} has no fork base to go back to`);
    const result = await engine.revert(
      { operationId: operationId(context, 'refresh', diskId), diskId, layerId: top.backingLayerId },
      { signal },
    );
    if (diskId !== job.memoryImageId) disks.push(placementOf(result));
    opened.set(
      diskId,
      asVmExport(
        await engine.openLive(
          { operationId: operationId(context, 'reopen', diskId), target: { diskId } },
          { signal },
        ),
      ),
    );
  }
  context.progress('done', 1, 1);
  return {
    kind: 'refresh',
    disks,
    exports: job.diskIds.map((diskId) => opened.get(diskId)!),
    memoryImage: opened.get(job.memoryImageId)!,
  };
}
