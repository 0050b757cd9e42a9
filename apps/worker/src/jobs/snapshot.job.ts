import type { DiskPlacement, JobOutcome, SnapshotJob } from '@dolly/domain';
import { type JobContext, operationId } from './job-context';

/** Take a snapshot (freeze each top, a new delta over it), revert to one, or delete one (merge it away). */
export async function snapshot(job: SnapshotJob, context: JobContext): Promise<JobOutcome> {
  const { engine } = context;
  switch (job.action) {
    case 'take': {
      const layers: { diskId: string; layerId: string }[] = [];
      const disks: DiskPlacement[] = [];
      for (const { diskId } of job.disks) {
        const result = await engine.snapshot(
          { operationId: operationId(context, 'snapshot', diskId), diskId },
          { signal: context.signal },
        );
        layers.push({ diskId, layerId: result.frozenLayerId });
        disks.push({ diskId, layerId: result.topLayerId, allocatedBytes: 0 });
      }
      context.progress('done', 1, 1);
      return { kind: 'snapshot', action: 'take', layers, disks };
    }
    case 'revert': {
      const disks: DiskPlacement[] = [];
      for (const disk of job.disks) {
        const result = await engine.revert({
          operationId: operationId(context, 'revert', disk.diskId),
          diskId: disk.diskId,
          layerId: disk.snapshotLayerId!,
        });
        disks.push({
          diskId: disk.diskId,
          layerId: result.layerId,
          allocatedBytes: result.allocatedBytes,
        });
      }
      context.progress('done', 1, 1);
      return { kind: 'snapshot', action: 'revert', disks };
    }
    case 'delete': {
      const inventory = engine.inventory();
      for (const disk of job.disks) {
        // The layer standing right on the snapshot's takes it in (the disk's top for the latest one).
        const above = inventory.layers.find(
          (layer) =>
            layer.backingLayerId === disk.snapshotLayerId && layer.datastoreId === job.datastoreId,
        );
        const target = above ? { layerId: above.layerId } : { diskId: disk.diskId };
        await engine.consolidate(
          { operationId: operationId(context, 'consolidate', disk.diskId), target },
          { signal: context.signal },
        );
      }
      context.progress('done', 1, 1);
      return { kind: 'snapshot', action: 'delete' };
    }
  }
}
