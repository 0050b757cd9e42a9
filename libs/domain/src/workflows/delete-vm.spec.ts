import {
  datastoreEvents,
  inventory,
  linkedCloneCreated,
  stream,
  vmEvents,
  workflowSpecification,
} from '@dolly/testing/pure';
import type { Event } from '../shared/decider';
import { requestDelete } from './delete-vm';
import { abandonJob, completeJob } from './job-outcomes';

const { vmId: sourceVmId, datastoreId, snapshotId } = inventory;
const vmId = '0190f3a0-0000-7000-8000-000000000c05';
const diskId = '0190f3a0-0000-7000-8000-000000000dc5';
const cloneTaskId = '0190f3a0-0000-7000-8000-000000000e50';
const taskId = '0190f3a0-0000-7000-8000-000000000e05';
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const placement = { kind: 'group' as const, group: 'ds-01' };
const spec = workflowSpecification();

/** A linked clone of the inventory's VM on its snapshot, made: it holds its source back. */
const linkedClone: Event[] = [
  linkedCloneCreated({
    vmId,
    diskId,
    name: 'linked',
    macAddress: '02:00:00:00:0c:05',
    biosUuid: '0190f3a0-0000-7000-8000-000000000b05',
    taskId: cloneTaskId,
  }),
  {
    type: 'VmCloned',
    data: {
      vmId,
      taskId: cloneTaskId,
      disks: [{ diskId, layerId: 'linked-top', allocatedBytes: 0 }],
      sourceVmId,
      linked: true,
    },
  },
];
const source: Event[] = [
  ...vmEvents,
  {
    type: 'VmBeingCloned',
    data: {
      vmId: sourceVmId,
      taskId: cloneTaskId,
      targetVmId: vmId,
      linked: true,
      snapshotId,
      format: 'same',
    },
  },
  {
    type: 'VmCloneFinished',
    data: {
      vmId: sourceVmId,
      taskId: cloneTaskId,
      targetVmId: vmId,
      outcome: 'succeeded',
      linked: true,
    },
  },
];
const claimed: Event = {
  type: 'DatastoreSpaceReserved',
  data: {
    datastoreId,
    taskId: cloneTaskId,
    claims: [{ diskId, physicalBytes: MiB, provisionedBytes: 32 * GiB }],
  },
};
const requested: Event = { type: 'VmDeletionRequested', data: { vmId, taskId, forced: false } };
const queued: Event = {
  type: 'TaskQueued',
  data: {
    taskId,
    operation: 'DeleteVm',
    target: { type: 'vm', id: vmId },
    job: {
      kind: 'delete-vm',
      vmId,
      datastoreId,
      diskIds: [diskId],
      memoryImageId: null,
      live: false,
      linkedTo: sourceVmId,
      poolId: null,
    },
    placement,
  },
};
const started: Event = { type: 'TaskStarted', data: { taskId, attempt: 1, workerId: 'w1' } };
const deleting = [
  stream('vm', vmId, [...linkedClone, requested]),
  stream('vm', sourceVmId, source),
  stream('datastore', datastoreId, [...datastoreEvents, claimed]),
  stream('task', taskId, [queued, started]),
];

describe('delete a VM', () => {
  it('asks for it and queues the deletion of its files', () => {
    spec
      .given(stream('vm', vmId, linkedClone))
      .when((ws) =>
        requestDelete(ws, { vmId, taskId, placement, requester: { by: 'person', force: false } }),
      )
      .then(stream('vm', vmId, [requested]), stream('task', taskId, [queued]));
  });

  it('a VM linked clones stand on cannot go', () => {
    spec
      .given(stream('vm', sourceVmId, source))
      .when((ws) =>
        requestDelete(ws, {
          vmId: sourceVmId,
          taskId,
          placement,
          requester: { by: 'person', force: false },
        }),
      )
      .thenThrows('VM.HAS_LINKED_CLONES', ['VM.LINKED_CLONE']);
  });

  it('deleted: the VM is gone, its space returns, its source lets it go', () => {
    spec
      .given(...deleting)
      .when((ws, ids) =>
        completeJob(
          ws,
          { taskId, attempt: 1, workerId: 'w1', outcome: { kind: 'delete-vm' } },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [{ type: 'TaskSucceeded', data: { taskId, attempt: 1 } }]),
        stream('vm', vmId, [{ type: 'VmDeleted', data: { vmId, taskId } }]),
        stream('datastore', datastoreId, [
          {
            type: 'DatastoreSpaceReleased',
            data: { datastoreId, diskIds: [diskId], reason: 'the VM was deleted' },
          },
        ]),
        stream('vm', sourceVmId, [
          { type: 'VmLinkedCloneReleased', data: { vmId: sourceVmId, dependantVmId: vmId } },
        ]),
      );
  });

  it('failed: the VM stays, no longer busy', () => {
    spec
      .given(...deleting)
      .when((ws, ids) =>
        abandonJob(
          ws,
          { taskId, attempt: 1, cancelled: false, code: 'DISK.BUSY', message: 'in use' },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [
          {
            type: 'TaskFailed',
            data: { taskId, attempt: 1, code: 'DISK.BUSY', message: 'in use', reasons: [] },
          },
        ]),
        stream('vm', vmId, [
          {
            type: 'VmTaskFailed',
            data: { vmId, taskId, code: 'DISK.BUSY', message: 'in use', operation: 'delete' },
          },
        ]),
      );
  });
});
