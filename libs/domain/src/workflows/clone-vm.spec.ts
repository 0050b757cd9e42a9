import {
  datastoreEvents,
  hostEvents,
  inventory,
  linkedCloneCreated,
  stream,
  vmEvents,
  workflowSpecification,
} from '@dolly/testing/pure';
import type { Event } from '../shared/decider';
import { type CloneRequest, startClone } from './clone-vm';
import { abandonJob, completeJob } from './job-outcomes';

const { hostId, datastoreId, vmId: sourceVmId, diskId: sourceDiskId, snapshotId } = inventory;
const targetVmId = '0190f3a0-0000-7000-8000-000000000c02';
const diskId = '0190f3a0-0000-7000-8000-000000000dc2';
const taskId = '0190f3a0-0000-7000-8000-000000000e02';
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const placement = { kind: 'group' as const, group: 'ds-01' };
const spec = workflowSpecification();
const given = [
  stream('host', hostId, hostEvents),
  stream('datastore', datastoreId, datastoreEvents),
  stream('vm', sourceVmId, vmEvents),
];

const request: CloneRequest = {
  sourceVmId,
  targetVmId,
  taskId,
  name: 'win11-clone',
  role: 'vm',
  linked: true,
  snapshotId,
  format: 'same',
  identity: {
    diskIds: [diskId],
    macAddresses: ['02:00:00:00:0c:02'],
    biosUuid: '0190f3a0-0000-7000-8000-000000000b02',
  },
  placement,
  operation: 'CloneVm',
  powerOnAfter: true,
};
const beingCloned: Event = {
  type: 'VmBeingCloned',
  data: { vmId: sourceVmId, taskId, targetVmId, linked: true, snapshotId, format: 'same' },
};
const created = linkedCloneCreated({
  vmId: targetVmId,
  diskId,
  name: 'win11-clone',
  macAddress: '02:00:00:00:0c:02',
  biosUuid: '0190f3a0-0000-7000-8000-000000000b02',
  taskId,
});
const reserved: Event = {
  type: 'DatastoreSpaceReserved',
  data: {
    datastoreId,
    taskId,
    claims: [{ diskId, physicalBytes: MiB, provisionedBytes: 32 * GiB }],
  },
};
const queued: Event = {
  type: 'TaskQueued',
  data: {
    taskId,
    operation: 'CloneVm',
    target: { type: 'vm', id: targetVmId },
    job: {
      kind: 'clone',
      sourceVmId,
      targetVmId,
      sourceDatastoreId: datastoreId,
      targetDatastoreId: datastoreId,
      linked: true,
      snapshotId,
      format: 'same',
      live: false,
      powerOnAfter: true,
      disks: [
        {
          sourceDiskId,
          sourceLayerId: 'golden-v1',
          diskId,
          capacityBytes: 32 * GiB,
          format: 'thin',
        },
      ],
    },
    placement,
  },
};
const started: Event = { type: 'TaskStarted', data: { taskId, attempt: 1, workerId: 'w1' } };
const cloning = [
  stream('host', hostId, hostEvents),
  stream('datastore', datastoreId, [...datastoreEvents, reserved]),
  stream('vm', sourceVmId, [...vmEvents, beingCloned]),
  stream('vm', targetVmId, [created]),
  stream('task', taskId, [queued, started]),
];

describe('clone a VM', () => {
  it('marks the source cloning, puts the clone in the inventory, claims its space, queues the copy', () => {
    spec
      .given(...given)
      .when((ws) => startClone(ws, request))
      .then(
        stream('vm', sourceVmId, [beingCloned]),
        stream('vm', targetVmId, [created]),
        stream('datastore', datastoreId, [reserved]),
        stream('task', taskId, [queued]),
      );
  });

  it('a linked clone stays on its source’s datastore', () => {
    spec
      .given(...given)
      .when((ws) => startClone(ws, { ...request, datastoreId: 'elsewhere' }))
      .thenThrows('CLONE.LINKED_ACROSS_DATASTORES');
  });

  it('copied: the clone is ready, the source free, and a clone to power on starts its power task on this worker', () => {
    const disks = [{ diskId, layerId: 'clone-top', allocatedBytes: 0 }];
    const powerTaskId = '0190f3a0-0000-7000-9000-000000000001';
    const memoryImageId = '0190f3a0-0000-7000-9000-000000000002';
    spec
      .given(...cloning)
      .when((ws, ids) =>
        completeJob(
          ws,
          { taskId, attempt: 1, workerId: 'w1', outcome: { kind: 'clone', disks } },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [{ type: 'TaskSucceeded', data: { taskId, attempt: 1 } }]),
        stream('vm', targetVmId, [
          {
            type: 'VmCloned',
            data: { vmId: targetVmId, taskId, disks, sourceVmId, linked: true },
          },
          {
            type: 'VmPowerChangeRequested',
            data: { vmId: targetVmId, taskId: powerTaskId, to: 'poweredOn', forced: false },
          },
        ]),
        stream('vm', sourceVmId, [
          {
            type: 'VmCloneFinished',
            data: { vmId: sourceVmId, taskId, targetVmId, outcome: 'succeeded', linked: true },
          },
        ]),
        stream('task', powerTaskId, [
          {
            type: 'TaskQueued',
            data: {
              taskId: powerTaskId,
              operation: 'PowerOnVm',
              target: { type: 'vm', id: targetVmId },
              job: {
                kind: 'power',
                vmId: targetVmId,
                datastoreId,
                to: 'poweredOn',
                from: 'poweredOff',
                diskIds: [diskId],
                memoryImage: { imageId: memoryImageId, sizeBytes: 4 * GiB },
              },
              placement: { kind: 'worker', workerId: 'w1' },
            },
          },
        ]),
      );
  });

  it('cancelled: no clone, the source free again, the space returns', () => {
    spec
      .given(...cloning)
      .when((ws, ids) =>
        abandonJob(
          ws,
          { taskId, attempt: 1, cancelled: true, code: 'TASK.CANCELLED', message: 'by ann' },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [{ type: 'TaskCancelled', data: { taskId, attempt: 1 } }]),
        stream('vm', targetVmId, [
          {
            type: 'VmProvisioningFailed',
            data: { vmId: targetVmId, taskId, code: 'TASK.CANCELLED', message: 'by ann' },
          },
        ]),
        stream('vm', sourceVmId, [
          {
            type: 'VmCloneFinished',
            data: { vmId: sourceVmId, taskId, targetVmId, outcome: 'cancelled', linked: true },
          },
        ]),
        stream('datastore', datastoreId, [
          {
            type: 'DatastoreSpaceReleased',
            data: { datastoreId, diskIds: [diskId], reason: `task ${taskId} was cancelled` },
          },
        ]),
      );
  });
});
