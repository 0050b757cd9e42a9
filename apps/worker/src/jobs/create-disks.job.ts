import type { CreateDisksJob, DiskPlacement, JobOutcome } from '@dolly/domain';
import { type JobContext, operationId, progressOverSteps } from './job-context';

/** A new VM's empty disks; eager-zeroed ones take time (their progress is their capacity). */
export async function createDisks(job: CreateDisksJob, context: JobContext): Promise<JobOutcome> {
  const steps = progressOverSteps(
    context,
    job.disks.map((d) => (d.format === 'thick-eager-zeroed' ? d.capacityBytes : 1)),
  );
  const disks: DiskPlacement[] = [];
  for (const [index, disk] of job.disks.entries()) {
    const result = await context.engine.createDisk(
      {
        operationId: operationId(context, 'create', disk.diskId),
        datastoreId: job.datastoreId,
        diskId: disk.diskId,
        format: disk.format,
        capacityBytes: disk.capacityBytes,
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
  return { kind: 'create-disks', disks };
}
