import type { CloneJob, DiskPlacement, JobOutcome } from '@dolly/domain';
import { freeze } from './engine-steps';
import { type JobContext, operationId, progressOverSteps } from './job-context';

/** A template's disks become frozen when something first stands on them (converting copied nothing). */
async function frozenSource(context: JobContext, disk: CloneJob['disks'][number]) {
  if (disk.sourceLayerId) return { layerId: disk.sourceLayerId };
  const inventory = context.engine.inventory();
  const source = inventory.disks.find((d) => d.diskId === disk.sourceDiskId);
  const top = source && inventory.layers.find((l) => l.layerId === source.topLayerId);
  if (top && !top.frozen) {
    await freeze(context, disk.sourceDiskId);
  }
  return { diskId: disk.sourceDiskId };
}

/** Clone a VM, a template, deploy: each disk a linked clone (constant time) or a full copy. */
export async function clone(job: CloneJob, context: JobContext): Promise<JobOutcome> {
  const steps = progressOverSteps(
    context,
    job.disks.map((d) => (job.linked ? 1 : d.capacityBytes)),
  );
  const disks: DiskPlacement[] = [];
  for (const [index, disk] of job.disks.entries()) {
    const result = job.linked
      ? await context.engine.linkedClone(
          {
            operationId: operationId(context, 'link', disk.diskId),
            source: await frozenSource(context, disk),
            diskId: disk.diskId,
            datastoreId: job.targetDatastoreId,
          },
          steps.step(index),
        )
      : await context.engine.fullClone(
          {
            operationId: operationId(context, 'copy', disk.diskId),
            source: disk.sourceLayerId
              ? { layerId: disk.sourceLayerId }
              : { diskId: disk.sourceDiskId },
            diskId: disk.diskId,
            datastoreId: job.targetDatastoreId,
            format: disk.format,
          },
          steps.step(index),
        );
    disks.push({
      diskId: disk.diskId,
      layerId: result.layerId,
      allocatedBytes: result.allocatedBytes,
    });
  }
  steps.done();
  return { kind: 'clone', disks };
}
