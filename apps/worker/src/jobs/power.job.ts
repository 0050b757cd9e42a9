import type { JobOutcome, LiveExport, PowerJob } from '@dolly/domain';
import { closeOpen, createMemoryImage, openLive } from './engine-steps';
import { type JobContext, operationId } from './job-context';

/** Power on (open the disks and a memory image), suspend (close them) or power off (drop the memory). */
export async function power(job: PowerJob, context: JobContext): Promise<JobOutcome> {
  const memoryId = job.memoryImage.imageId;
  if (job.to === 'poweredOn') {
    const exports: LiveExport[] = [];
    for (const diskId of job.diskIds) exports.push(await openLive(context, diskId));
    if (job.from !== 'suspended') {
      await createMemoryImage(
        context,
        operationId(context, 'memory'),
        job.datastoreId,
        job.memoryImage,
      );
    }
    const memoryImage = await openLive(context, memoryId);
    context.progress('done', 1, 1);
    return { kind: 'power', to: 'poweredOn', workerId: context.workerId, exports, memoryImage };
  }
  // A suspended VM's disks are closed already; only what is open is closed.
  await closeOpen(context, [...job.diskIds, memoryId], 'close');
  // Suspended keeps the memory image to resume from; powered off drops it.
  if (job.to === 'poweredOff') {
    await context.engine.deleteDisk(
      { operationId: operationId(context, 'forget-memory'), diskId: memoryId },
      { signal: context.signal },
    );
  }
  context.progress('done', 1, 1);
  return { kind: 'power', to: job.to };
}
