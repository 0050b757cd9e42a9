import type { DeleteVmJob, JobOutcome } from '@dolly/domain';
import { closeOpen } from './engine-steps';
import { type JobContext, operationId } from './job-context';

/** Deletes a VM's disks and memory image (closed first when it runs); the engine reclaims layers. */
export async function deleteVm(job: DeleteVmJob, context: JobContext): Promise<JobOutcome> {
  if (job.live) {
    await closeOpen(
      context,
      [...job.diskIds, ...(job.memoryImageId ? [job.memoryImageId] : [])],
      'close',
    );
  }
  const known = new Set(context.engine.inventory().disks.map((d) => d.diskId));
  for (const diskId of [...job.diskIds, ...(job.memoryImageId ? [job.memoryImageId] : [])]) {
    // A retried delete finds some disks gone already.
    if (!known.has(diskId)) continue;
    await context.engine.deleteDisk(
      { operationId: operationId(context, 'delete', diskId), diskId },
      { signal: context.signal },
    );
  }
  context.progress('done', 1, 1);
  return { kind: 'delete-vm' };
}
