import {
  type DatastoreState,
  datastoreDecider,
  guardQuarantineRestore,
} from '../datastore/datastore';
import type { DatastoreEvent } from '../datastore/datastore.events';
import type { Placement, RestoreQuarantinedJob } from '../jobs/jobs';
import { NotFoundError } from '../shared/errors';
import { type JobEnding, endTask } from './operations';
import { type TaskState, taskDecider } from '../task/task';
import type { TaskEvent } from '../task/task.events';

/**
 * Restoring a quarantined layer (admin): the task carries the job to a worker serving the
 * datastore, which checks the layer again with qemu-img; only then does the datastore record it
 * taken back (DatastoreLayerRestored), and the quarantine list no longer shows it. A layer still
 * broken fails the task with the reason, and nothing changes.
 */
export function requestQuarantineRestore(
  input: { datastoreId: string; entry: string; taskId: string; placement: Placement },
  states: { datastore: DatastoreState; task: TaskState },
): { task: TaskEvent[] } {
  const { datastoreId, entry, taskId, placement } = input;
  const found = guardQuarantineRestore(states.datastore, datastoreId, entry);
  const job: RestoreQuarantinedJob = {
    kind: 'restore-quarantined',
    datastoreId,
    layerId: found.entry,
  };
  return {
    task: taskDecider.decide(
      {
        type: 'QueueTask',
        data: {
          taskId,
          operation: 'RestoreQuarantinedLayer',
          target: { type: 'datastore', id: datastoreId },
          job,
          placement,
        },
      },
      states.task,
      undefined,
    ),
  };
}

function restoreTask(task: TaskState) {
  if (task.status === 'absent')
    throw new NotFoundError('TASK.NOT_FOUND', 'The task does not exist');
  if (task.job.kind !== 'restore-quarantined')
    throw new Error(`Job ${task.job.kind} is not a restore of a quarantined layer`);
  return { ...task, job: task.job };
}

/** The worker took the layer back: the task succeeds and the datastore records it. */
export function completeQuarantineRestore(
  ending: { attempt: number; workerId: string },
  states: { task: TaskState; datastore: DatastoreState },
): { task: TaskEvent[]; datastore: DatastoreEvent[] } {
  const { taskId, job } = restoreTask(states.task);
  return {
    task: taskDecider.decide(
      { type: 'SucceedTask', data: { taskId, attempt: ending.attempt } },
      states.task,
      undefined,
    ),
    datastore: datastoreDecider.decide(
      {
        type: 'RecordLayerRestored',
        data: {
          datastoreId: job.datastoreId,
          layerId: job.layerId,
          taskId,
          workerId: ending.workerId,
        },
      },
      states.datastore,
      undefined,
    ),
  };
}

/** Failed (still broken, not quarantined any more...) or cancelled: only the task ends. */
export function abandonQuarantineRestore(
  ending: JobEnding,
  states: { task: TaskState },
): { task: TaskEvent[] } {
  const { taskId } = restoreTask(states.task);
  return { task: endTask(taskId, ending, states.task) };
}
