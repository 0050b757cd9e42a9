import { deciderSpecification } from '@dolly/testing/pure';
import type { TaskEvent, TaskQueued } from './task.events';
import { taskDecider } from './task';

const taskId = '0190f3a0-0000-7000-8000-00000000f001';
const queued: TaskQueued = {
  type: 'TaskQueued',
  data: {
    taskId,
    operation: 'CloneVm',
    target: { type: 'vm', id: '0190f3a0-0000-7000-8000-000000000001' },
    job: {
      kind: 'create-disks',
      vmId: '0190f3a0-0000-7000-8000-000000000001',
      datastoreId: '0190f3a0-0000-7000-8000-0000000000d1',
      disks: [],
    },
    placement: { kind: 'group', group: 'all' },
  },
};
const started = (attempt: number, workerId = 'worker-a'): TaskEvent => ({
  type: 'TaskStarted',
  data: { taskId, attempt, workerId },
});
const spec = deciderSpecification(taskDecider);

describe('Task', () => {
  describe('when queued', () => {
    it('starts attempt 1 when a worker takes it', () => {
      spec
        .given([queued])
        .when({ type: 'StartTask', data: { taskId, workerId: 'worker-a' } })
        .then([started(1)]);
    });
    it('is cancelled at once, no worker involved', () => {
      spec
        .given([queued])
        .when({ type: 'RequestTaskCancel', data: { taskId } })
        .then([{ type: 'TaskCancelled', data: { taskId, attempt: 0 } }]);
    });
    it('may fail before any worker ran it', () => {
      spec
        .given([queued])
        .when({
          type: 'FailTask',
          data: { taskId, attempt: 0, code: 'PLACEMENT.NO_WORKER', message: 'no worker' },
        })
        .then([
          {
            type: 'TaskFailed',
            data: {
              taskId,
              attempt: 0,
              code: 'PLACEMENT.NO_WORKER',
              message: 'no worker',
              reasons: [],
            },
          },
        ]);
    });
    it('cannot be queued twice', () => {
      spec
        .given([queued])
        .when({ type: 'QueueTask', data: queued.data })
        .thenThrows('TASK.ALREADY_EXISTS');
    });
  });

  describe('when running', () => {
    it('succeeds for the running attempt', () => {
      spec
        .given([queued, started(1)])
        .when({ type: 'SucceedTask', data: { taskId, attempt: 1 } })
        .then([{ type: 'TaskSucceeded', data: { taskId, attempt: 1 } }]);
    });
    it('is taken over by a newer attempt, and the older one can no longer report', () => {
      spec
        .given([queued, started(1)])
        .when({ type: 'StartTask', data: { taskId, workerId: 'worker-b' } })
        .then([started(2, 'worker-b')]);
      spec
        .given([queued, started(1), started(2, 'worker-b')])
        .when({ type: 'SucceedTask', data: { taskId, attempt: 1 } })
        .thenThrows('TASK.ATTEMPT_SUPERSEDED');
      spec
        .given([queued, started(1), started(2, 'worker-b')])
        .when({ type: 'FailTask', data: { taskId, attempt: 1, code: 'X', message: 'x' } })
        .thenThrows('TASK.ATTEMPT_SUPERSEDED');
    });
    it('records a cancel request once, for the worker to act on', () => {
      spec
        .given([queued, started(1)])
        .when({ type: 'RequestTaskCancel', data: { taskId } })
        .then([{ type: 'TaskCancelRequested', data: { taskId } }]);
      spec
        .given([queued, started(1), { type: 'TaskCancelRequested', data: { taskId } }])
        .when({ type: 'RequestTaskCancel', data: { taskId } })
        .thenNothingHappened();
    });
    it('ends cancelled when the running attempt confirms', () => {
      spec
        .given([queued, started(1), { type: 'TaskCancelRequested', data: { taskId } }])
        .when({ type: 'ConfirmTaskCancelled', data: { taskId, attempt: 1 } })
        .then([{ type: 'TaskCancelled', data: { taskId, attempt: 1 } }]);
    });
    it('does not restart once cancel was asked: a worker taking over ends it', () => {
      spec
        .given([queued, started(1), { type: 'TaskCancelRequested', data: { taskId } }])
        .when({ type: 'StartTask', data: { taskId, workerId: 'worker-b' } })
        .then([{ type: 'TaskCancelled', data: { taskId, attempt: 1 } }]);
    });
  });

  describe('when finished', () => {
    it('refuses everything', () => {
      const done: TaskEvent[] = [
        queued,
        started(1),
        { type: 'TaskSucceeded', data: { taskId, attempt: 1 } },
      ];
      spec
        .given(done)
        .when({ type: 'StartTask', data: { taskId, workerId: 'w' } })
        .thenThrows('TASK.ALREADY_FINISHED');
      spec
        .given(done)
        .when({ type: 'RequestTaskCancel', data: { taskId } })
        .thenThrows('TASK.ALREADY_FINISHED');
      spec
        .given(done)
        .when({ type: 'SucceedTask', data: { taskId, attempt: 1 } })
        .thenThrows('TASK.ALREADY_FINISHED');
    });
  });
});
