import { inventory, stream, vmEvents, workflowSpecification } from '@dolly/testing/pure';
import type { Event } from '../shared/decider';
import { completeJob } from './job-outcomes';
import { requestSnapshotAction } from './snapshot';

const { vmId, datastoreId, diskId, snapshotId: firstSnapshotId } = inventory;
const taskId = '0190f3a0-0000-7000-8000-000000000e04';
const snapshotId = '0190f3a0-0000-7000-8000-00000000a502';
const placement = { kind: 'group' as const, group: 'ds-01' };
const spec = workflowSpecification();
const started: Event = { type: 'TaskStarted', data: { taskId, attempt: 1, workerId: 'w1' } };
const queuedFor = (action: 'take' | 'revert', id: string, layerId: string | null): Event => ({
  type: 'TaskQueued',
  data: {
    taskId,
    operation: action === 'take' ? 'TakeSnapshot' : 'RevertToSnapshot',
    target: { type: 'vm', id: vmId },
    job: {
      kind: 'snapshot',
      action,
      vmId,
      datastoreId,
      snapshotId: id,
      live: false,
      disks: [{ diskId, snapshotLayerId: layerId }],
    },
    placement,
  },
});

describe('snapshots', () => {
  const takeRequested: Event = {
    type: 'VmSnapshotRequested',
    data: { vmId, taskId, snapshotId, name: 'v2', description: 'patched' },
  };

  it('take: asks for it and queues the job', () => {
    spec
      .given(stream('vm', vmId, vmEvents))
      .when((ws) =>
        requestSnapshotAction(ws, {
          action: 'take',
          vmId,
          taskId,
          snapshotId,
          name: 'v2',
          description: 'patched',
          placement,
        }),
      )
      .then(
        stream('vm', vmId, [takeRequested]),
        stream('task', taskId, [queuedFor('take', snapshotId, null)]),
      );
  });

  it('revert: the job names the snapshot’s layer of each disk', () => {
    spec
      .given(stream('vm', vmId, vmEvents))
      .when((ws) =>
        requestSnapshotAction(ws, {
          action: 'revert',
          vmId,
          taskId,
          snapshotId: firstSnapshotId,
          placement,
        }),
      )
      .then(
        stream('vm', vmId, [
          { type: 'VmRevertRequested', data: { vmId, taskId, snapshotId: firstSnapshotId } },
        ]),
        stream('task', taskId, [queuedFor('revert', firstSnapshotId, 'golden-v1')]),
      );
  });

  it('taken: the VM records the snapshot’s frozen layers and its new top', () => {
    const layers = [{ diskId, layerId: 'golden-v2' }];
    const disks = [{ diskId, layerId: 'golden-top-3', allocatedBytes: 0 }];
    spec
      .given(
        stream('vm', vmId, [...vmEvents, takeRequested]),
        stream('task', taskId, [queuedFor('take', snapshotId, null), started]),
      )
      .when((ws, ids) =>
        completeJob(
          ws,
          {
            taskId,
            attempt: 1,
            workerId: 'w1',
            outcome: { kind: 'snapshot', action: 'take', layers, disks },
          },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [{ type: 'TaskSucceeded', data: { taskId, attempt: 1 } }]),
        stream('vm', vmId, [
          {
            type: 'VmSnapshotTaken',
            data: {
              vmId,
              taskId,
              snapshotId,
              name: 'v2',
              description: 'patched',
              parentSnapshotId: firstSnapshotId,
              layers,
              disks,
            },
          },
        ]),
      );
  });
});
