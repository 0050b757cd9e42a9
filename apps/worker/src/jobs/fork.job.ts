import type { JobOutcome, ForkJob } from '@dolly/domain';
import { asVmExport } from './engine-steps';
import { type JobContext, operationId } from './job-context';

/**
 * An instant clone: overlays of the parent's disks and memory image over their frozen state (the
 * first fork freezes the parent), exported at once. No data is copied and nothing boots.
 */
export async function fork(job: ForkJob, context: JobContext): Promise<JobOutcome> {
  const { engine } = context;
  const result = await engine.fork(
    {
      operationId: operationId(context, 'fork'),
      sources: [
        ...job.disks.map((d) => ({ diskId: d.sourceDiskId, newDiskId: d.diskId })),
        { diskId: job.memoryImage.sourceImageId, newDiskId: job.memoryImage.imageId },
      ],
    },
    { signal: context.signal },
  );
  const byDisk = new Map(result.forks.map((f) => [f.diskId, f]));
  const froze = result.events.some((event) => event.type === 'LayerFrozen');
  const parentDisks = new Set(job.disks.map((d) => d.sourceDiskId));
  context.progress('done', 1, 1);
  return {
    kind: 'fork',
    disks: job.disks.map((d) => {
      const forked = byDisk.get(d.diskId)!;
      // A new overlay holds no data yet; the block maps measured next say what it takes.
      return { diskId: d.diskId, layerId: forked.layerId, allocatedBytes: 0 };
    }),
    workerId: context.workerId,
    exports: job.disks.map((d) => asVmExport(byDisk.get(d.diskId)!.export)),
    memoryImage: asVmExport(byDisk.get(job.memoryImage.imageId)!.export),
    parentExports: froze
      ? engine
          .inventory()
          .exports.filter((e) => e.diskId && parentDisks.has(e.diskId))
          .map(asVmExport)
      : null,
  };
}
