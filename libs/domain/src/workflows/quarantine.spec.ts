import { stream, workflowSpecification } from '@dolly/testing/pure';
import type { DatastoreEvent } from '../datastore/datastore.events';
import type { TaskEvent } from '../task/task.events';
import { abandonJob, completeJob } from './job-outcomes';
import { requestQuarantineRestore } from './quarantine';

const datastoreId = '0190f3a0-0000-7000-8000-0000000000d1';
const taskId = '0190f3a0-0000-7000-8000-0000000000a1';
const placement = { kind: 'group' as const, group: 'rack-1' };

const spec = workflowSpecification();
const registered: DatastoreEvent = {
  type: 'DatastoreRegistered',
  data: {
    datastoreId,
    name: 'ds-01',
    capacityBytes: 1024 ** 4,
    folder: '/srv/dolly/ds-01',
    overcommitRatio: 1,
    adopted: false,
  },
};
const observed: DatastoreEvent = {
  type: 'DatastoreQuarantineObserved',
  data: {
    datastoreId,
    workerId: 'w1',
    entries: [
      {
        kind: 'layer',
        entry: 'layer-a',
        fileName: 'layer-a.qcow2',
        sizeBytes: 196_608,
        diskIds: ['disk-a'],
        restorable: true,
      },
    ],
  },
};

describe('restoring a quarantined layer', () => {
  const queued: TaskEvent = {
    type: 'TaskQueued',
    data: {
      taskId,
      operation: 'RestoreQuarantinedLayer',
      target: { type: 'datastore', id: datastoreId },
      job: { kind: 'restore-quarantined', datastoreId, layerId: 'layer-a' },
      placement,
    },
  };
  const started: TaskEvent = {
    type: 'TaskStarted',
    data: { taskId, attempt: 1, workerId: 'w1' },
  };
  const datastore = stream('datastore', datastoreId, [registered, observed]);
  const runningTask = stream('task', taskId, [queued, started]);

  it('queues a job for a worker serving the datastore, on a task targeting it', () => {
    spec
      .given(datastore)
      .when((ws) =>
        requestQuarantineRestore(ws, { datastoreId, entry: 'layer-a', taskId, placement }),
      )
      .then(stream('task', taskId, [queued]));
  });

  it('on success: the task succeeds and the datastore records the layer taken back', () => {
    spec
      .given(runningTask, datastore)
      .when((ws, ids) =>
        completeJob(
          ws,
          {
            taskId,
            attempt: 1,
            workerId: 'w1',
            outcome: { kind: 'restore-quarantined', layerId: 'layer-a' },
          },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [{ type: 'TaskSucceeded', data: { taskId, attempt: 1 } }]),
        stream('datastore', datastoreId, [
          {
            type: 'DatastoreLayerRestored',
            data: { datastoreId, layerId: 'layer-a', taskId, workerId: 'w1' },
          },
        ]),
      );
  });

  it('failed or cancelled: only the task ends, with the reason', () => {
    const ended = (cancelled: boolean, code: string, message: string) =>
      spec
        .given(runningTask, datastore)
        .when((ws, ids) => abandonJob(ws, { taskId, attempt: 1, cancelled, code, message }, ids));
    ended(false, 'DISK.STILL_BROKEN', 'still not sound').then(
      stream('task', taskId, [
        {
          type: 'TaskFailed',
          data: {
            taskId,
            attempt: 1,
            code: 'DISK.STILL_BROKEN',
            message: 'still not sound',
            reasons: [],
          },
        },
      ]),
    );
    ended(true, 'TASK.CANCELLED', 'on request').then(
      stream('task', taskId, [{ type: 'TaskCancelled', data: { taskId, attempt: 1 } }]),
    );
  });
});
