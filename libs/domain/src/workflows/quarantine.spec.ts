import { datastoreDecider } from '../datastore/datastore';
import type { DatastoreEvent } from '../datastore/datastore.events';
import { taskDecider } from '../task/task';
import type { TaskEvent } from '../task/task.events';
import {
  abandonQuarantineRestore,
  completeQuarantineRestore,
  requestQuarantineRestore,
} from './quarantine';

const datastoreId = '0190f3a0-0000-7000-8000-0000000000d1';
const taskId = '0190f3a0-0000-7000-8000-0000000000a1';
const placement = { kind: 'group' as const, group: 'rack-1' };

const given = {
  datastore: (...events: DatastoreEvent[]) =>
    events.reduce(datastoreDecider.evolve, datastoreDecider.initialState()),
  task: (...events: TaskEvent[]) => events.reduce(taskDecider.evolve, taskDecider.initialState()),
};
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
  const queued = requestQuarantineRestore(
    { datastoreId, entry: 'layer-a', taskId, placement },
    { datastore: given.datastore(registered, observed), task: given.task() },
  ).task;
  const started: TaskEvent = {
    type: 'TaskStarted',
    data: { taskId, attempt: 1, workerId: 'w1' },
  };

  it('queues a job for a worker serving the datastore, on a task targeting it', () => {
    expect(queued).toEqual([
      {
        type: 'TaskQueued',
        data: {
          taskId,
          operation: 'RestoreQuarantinedLayer',
          target: { type: 'datastore', id: datastoreId },
          job: { kind: 'restore-quarantined', datastoreId, layerId: 'layer-a' },
          placement,
        },
      },
    ]);
  });

  it('on success: the task succeeds and the datastore records the layer taken back', () => {
    const done = completeQuarantineRestore(
      { attempt: 1, workerId: 'w1' },
      { task: given.task(...queued, started), datastore: given.datastore(registered, observed) },
    );
    expect(done.task.map((e) => e.type)).toEqual(['TaskSucceeded']);
    expect(done.datastore).toEqual([
      {
        type: 'DatastoreLayerRestored',
        data: { datastoreId, layerId: 'layer-a', taskId, workerId: 'w1' },
      },
    ]);
  });

  it('failed or cancelled: only the task ends, with the reason', () => {
    const task = given.task(...queued, started);
    const failed = abandonQuarantineRestore(
      { attempt: 1, cancelled: false, code: 'DISK.STILL_BROKEN', message: 'still not sound' },
      { task },
    );
    expect(failed).toEqual({
      task: [
        {
          type: 'TaskFailed',
          data: { taskId, attempt: 1, code: 'DISK.STILL_BROKEN', message: 'still not sound' },
        },
      ],
    });
    const cancelled = abandonQuarantineRestore(
      { attempt: 1, cancelled: true, code: 'TASK.CANCELLED', message: 'on request' },
      { task },
    );
    expect(cancelled.task.map((e) => e.type)).toEqual(['TaskCancelled']);
  });
});
