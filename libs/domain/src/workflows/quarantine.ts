import { guardQuarantineRestore } from '../datastore/datastore';
import type { Placement, RestoreQuarantinedJob } from '../jobs/jobs';
import { queue } from './steps';
import type { Workspace } from './workspace';

/**
 * Restoring a quarantined layer (admin): the task carries the job to a worker serving the
 * datastore, which checks the layer again with qemu-img; only then does the datastore record it
 * taken back (DatastoreLayerRestored), and the quarantine list no longer shows it. A layer still
 * broken fails the task with the reason, and nothing changes (only the task ends).
 */
export function requestQuarantineRestore(
  ws: Workspace,
  input: { datastoreId: string; entry: string; taskId: string; placement: Placement },
): void {
  const { datastoreId, entry, taskId, placement } = input;
  const found = guardQuarantineRestore(ws.datastore(datastoreId), datastoreId, entry);
  const job: RestoreQuarantinedJob = {
    kind: 'restore-quarantined',
    datastoreId,
    layerId: found.entry,
  };
  queue(
    ws,
    taskId,
    'RestoreQuarantinedLayer',
    { type: 'datastore', id: datastoreId },
    job,
    placement,
  );
}

export interface RestoreOutcome {
  kind: 'restore-quarantined';
  layerId: string;
}

/** The worker took the layer back: the datastore records it. */
export function completeQuarantineRestore(
  ws: Workspace,
  job: RestoreQuarantinedJob,
  report: { taskId: string; workerId: string },
): void {
  ws.decideDatastore({
    type: 'RecordLayerRestored',
    data: {
      datastoreId: job.datastoreId,
      layerId: job.layerId,
      taskId: report.taskId,
      workerId: report.workerId,
    },
  });
}
