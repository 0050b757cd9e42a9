import { inventory, stream, vmEvents, workflowSpecification } from '@dolly/testing/pure';
import type { Event } from '../shared/decider';
import { abandonJob, completeJob } from './job-outcomes';
import { requestPower } from './power';

const { vmId, datastoreId, diskId } = inventory;
const taskId = '0190f3a0-0000-7000-8000-000000000e03';
const memoryImageId = '0190f3a0-0000-7000-8000-000000000f03';
const GiB = 1024 ** 3;
const placement = { kind: 'group' as const, group: 'ds-01' };
const spec = workflowSpecification();

const requested: Event = {
  type: 'VmPowerChangeRequested',
  data: { vmId, taskId, to: 'poweredOn', forced: false },
};
const queued: Event = {
  type: 'TaskQueued',
  data: {
    taskId,
    operation: 'PowerOnVm',
    target: { type: 'vm', id: vmId },
    job: {
      kind: 'power',
      vmId,
      datastoreId,
      to: 'poweredOn',
      from: 'poweredOff',
      diskIds: [diskId],
      memoryImage: { imageId: memoryImageId, sizeBytes: 4 * GiB },
    },
    placement,
  },
};
const started: Event = { type: 'TaskStarted', data: { taskId, attempt: 1, workerId: 'w1' } };
const poweringOn = [
  stream('vm', vmId, [...vmEvents, requested]),
  stream('task', taskId, [queued, started]),
];
const exported = (imageId: string) => ({
  imageId,
  uri: `nbd+unix:///${imageId}?socket=/run/w1.sock`,
  writable: true,
});

describe('power a VM on, off, suspend it', () => {
  it('asks for the change and queues the job with a fresh memory image', () => {
    spec
      .given(stream('vm', vmId, vmEvents))
      .when((ws) =>
        requestPower(ws, {
          vmId,
          to: 'poweredOn',
          taskId,
          memoryImageId,
          placement,
          operation: 'PowerOnVm',
          requester: { by: 'person', force: false },
        }),
      )
      .then(stream('vm', vmId, [requested]), stream('task', taskId, [queued]));
  });

  it('refuses a VM that is not there', () => {
    spec
      .given()
      .when((ws) =>
        requestPower(ws, {
          vmId,
          to: 'poweredOn',
          taskId,
          memoryImageId,
          placement,
          operation: 'PowerOnVm',
          requester: { by: 'person', force: false },
        }),
      )
      .thenThrows('VM.NOT_FOUND');
  });

  it('powered on: the VM runs where the worker exports its disks and memory', () => {
    const outcome = {
      kind: 'power' as const,
      to: 'poweredOn' as const,
      workerId: 'w1',
      exports: [exported(diskId)],
      memoryImage: exported(memoryImageId),
    };
    spec
      .given(...poweringOn)
      .when((ws, ids) => completeJob(ws, { taskId, attempt: 1, workerId: 'w1', outcome }, ids))
      .then(
        stream('task', taskId, [{ type: 'TaskSucceeded', data: { taskId, attempt: 1 } }]),
        stream('vm', vmId, [
          {
            type: 'VmPoweredOn',
            data: {
              vmId,
              taskId,
              workerId: 'w1',
              exports: outcome.exports,
              memoryImage: outcome.memoryImage,
              resumedFromSuspend: false,
            },
          },
        ]),
      );
  });

  it('failed: the VM is no longer busy, and says why', () => {
    spec
      .given(...poweringOn)
      .when((ws, ids) =>
        abandonJob(
          ws,
          { taskId, attempt: 1, cancelled: false, code: 'DAEMON.DOWN', message: 'gone' },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [
          {
            type: 'TaskFailed',
            data: { taskId, attempt: 1, code: 'DAEMON.DOWN', message: 'gone', reasons: [] },
          },
        ]),
        stream('vm', vmId, [
          {
            type: 'VmTaskFailed',
            data: { vmId, taskId, code: 'DAEMON.DOWN', message: 'gone', operation: 'power' },
          },
        ]),
      );
  });
});
