import type { RestoreQuarantinedJob } from '@dolly/domain';
import { type JobContext, operationId } from './job-context';

/** A quarantined layer was checked again and taken back. */
export type RestoreOutcome = { kind: 'restore-quarantined'; layerId: string };

/**
 * The engine checks the layer again (qemu-img, a regular file, nothing below it quarantined) and
 * takes it back, or refuses with the reason (DISK.STILL_BROKEN...): the task fails with it.
 */
export async function restoreQuarantined(
  job: RestoreQuarantinedJob,
  context: JobContext,
): Promise<RestoreOutcome> {
  await context.engine.restoreQuarantined(
    {
      operationId: operationId(context, 'restore', job.layerId),
      datastoreId: job.datastoreId,
      layerId: job.layerId,
    },
    {
      signal: context.signal,
      onProgress: (p) => context.progress(p.phase, p.doneBytes, p.totalBytes),
    },
  );
  context.progress('done', 1, 1);
  return { kind: 'restore-quarantined', layerId: job.layerId };
}
