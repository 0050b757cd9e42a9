import { stream, workflowSpecification } from '@dolly/testing/pure';
import type { TaskEvent } from '../task/task.events';
import { abandonJob, completeJob } from './job-outcomes';
import { READ_MODELS_TARGET, requestReadModelRebuild } from './rebuild-read-models';

const taskId = '0190f3a0-0000-7000-8000-0000000000a5';
const spec = workflowSpecification();

describe('rebuilding the read models', () => {
  const queued: TaskEvent = {
    type: 'TaskQueued',
    data: {
      taskId,
      operation: 'RebuildReadModels',
      target: READ_MODELS_TARGET,
      job: { kind: 'rebuild-read-models' },
      placement: { kind: 'projector' },
    },
  };
  const runningTask = stream('task', taskId, [
    queued,
    { type: 'TaskStarted', data: { taskId, attempt: 1, workerId: 'projector-1' } },
  ]);

  it('queues a job for a projector, on a task targeting the read models', () => {
    spec
      .given()
      .when((ws) => requestReadModelRebuild(ws, { taskId }))
      .then(stream('task', taskId, [queued]));
  });

  it('on success: only the task succeeds (the switch-over changed no object)', () => {
    spec
      .given(runningTask)
      .when((ws, ids) =>
        completeJob(
          ws,
          {
            taskId,
            attempt: 1,
            workerId: 'projector-1',
            outcome: { kind: 'rebuild-read-models', events: 1234 },
          },
          ids,
        ),
      )
      .then(stream('task', taskId, [{ type: 'TaskSucceeded', data: { taskId, attempt: 1 } }]));
  });

  it('failed or cancelled: only the task ends, the live read models serving on', () => {
    spec
      .given(runningTask)
      .when((ws, ids) =>
        abandonJob(
          ws,
          { taskId, attempt: 1, cancelled: true, code: 'TASK.CANCELLED', message: 'on request' },
          ids,
        ),
      )
      .then(stream('task', taskId, [{ type: 'TaskCancelled', data: { taskId, attempt: 1 } }]));
  });
});
