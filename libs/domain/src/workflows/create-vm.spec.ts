import {
  datastoreEvents,
  hostEvents,
  inventory,
  stream,
  workflowSpecification,
} from '@dolly/testing/pure';
import type { VmDefinition } from '../vm/vm';
import type { VmEvent } from '../vm/vm.events';
import { abandonJob, completeJob } from './job-outcomes';
import { provisionNewVm } from './create-vm';

const { hostId, datastoreId } = inventory;
const vmId = '0190f3a0-0000-7000-8000-000000000c01';
const diskId = '0190f3a0-0000-7000-8000-000000000dc1';
const taskId = '0190f3a0-0000-7000-8000-000000000e01';
const GiB = 1024 ** 3;
const placement = { kind: 'group' as const, group: 'ds-01' };
const spec = workflowSpecification();
const host = stream('host', hostId, hostEvents);
const datastore = stream('datastore', datastoreId, datastoreEvents);

const definition: VmDefinition = {
  vmId,
  name: 'web-01',
  folder: '/dc/vm',
  hostId,
  datastoreId,
  hardware: { vcpus: 2, memoryBytes: 4 * GiB, hardwareVersion: 'vmx-19', guestOs: 'other' },
  disks: [{ diskId, label: 'Hard disk 1', capacityBytes: 16 * GiB, format: 'thick-eager-zeroed' }],
  nics: [{ macAddress: '02:00:00:00:0c:01', network: 'VM Network' }],
  biosUuid: '0190f3a0-0000-7000-8000-000000000b01',
};
const created: VmEvent = {
  type: 'VmCreated',
  data: {
    ...definition,
    role: 'vm',
    poolId: null,
    origin: { kind: 'new' },
    provisioningTaskId: taskId,
  },
};
const reserved = {
  type: 'DatastoreSpaceReserved',
  data: {
    datastoreId,
    taskId,
    claims: [{ diskId, physicalBytes: 16 * GiB + 1024 ** 2, provisionedBytes: 16 * GiB }],
  },
};
const queued = {
  type: 'TaskQueued',
  data: {
    taskId,
    operation: 'CreateVm',
    target: { type: 'vm', id: vmId },
    job: {
      kind: 'create-disks',
      vmId,
      datastoreId,
      disks: [{ diskId, capacityBytes: 16 * GiB, format: 'thick-eager-zeroed' }],
    },
    placement,
  },
};
const started = { type: 'TaskStarted', data: { taskId, attempt: 1, workerId: 'w1' } };

describe('create a VM', () => {
  it('puts the VM in the inventory, claims its disks’ space and queues their making', () => {
    spec
      .given(host, datastore)
      .when((ws) => provisionNewVm(ws, { definition, taskId, placement }))
      .then(
        stream('vm', vmId, [created]),
        stream('datastore', datastoreId, [reserved]),
        stream('task', taskId, [queued]),
      );
  });

  it('a VM without disks is ready at once: no space, no task', () => {
    spec
      .given(host, datastore)
      .when((ws) =>
        provisionNewVm(ws, { definition: { ...definition, disks: [] }, taskId, placement }),
      )
      .then(
        stream('vm', vmId, [
          {
            type: 'VmCreated',
            data: {
              ...definition,
              role: 'vm',
              poolId: null,
              disks: [],
              origin: { kind: 'new' },
              provisioningTaskId: null,
            },
          },
        ]),
      );
  });

  it('refuses a VM the host cannot run, with the reason', () => {
    spec
      .given(host, datastore)
      .when((ws) =>
        provisionNewVm(ws, {
          definition: {
            ...definition,
            hardware: { ...definition.hardware, hardwareVersion: 'vmx-21' },
          },
          taskId,
          placement,
        }),
      )
      .thenThrows('VM.PLACEMENT_REFUSED', ['HOST.HARDWARE_VERSION_UNSUPPORTED']);
  });

  const making = [
    host,
    stream('vm', vmId, [created]),
    stream('datastore', datastoreId, [...datastoreEvents, reserved as never]),
    stream('task', taskId, [queued as never, started as never]),
  ];

  it('the disks made: the VM is provisioned, with what the worker measured', () => {
    const disks = [{ diskId, layerId: 'web-top', allocatedBytes: 16 * GiB }];
    const usage = {
      provisionedBytes: 16 * GiB,
      usedBytes: 18 * GiB,
      sharedBytes: 0,
      ownBytes: 17 * GiB,
    };
    spec
      .given(...making)
      .when((ws, ids) =>
        completeJob(
          ws,
          {
            taskId,
            attempt: 1,
            workerId: 'w1',
            outcome: { kind: 'create-disks', disks },
            measured: { blockMaps: [], usage },
          },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [{ type: 'TaskSucceeded', data: { taskId, attempt: 1 } }]),
        stream('vm', vmId, [{ type: 'VmProvisioned', data: { vmId, taskId, disks } }]),
        stream('datastore', datastoreId, [
          { type: 'DatastoreUsageMeasured', data: { datastoreId, ...usage } },
        ]),
      );
  });

  it('an outcome of another kind does not fit the job', () => {
    expect(() =>
      spec
        .given(...making)
        .when((ws, ids) =>
          completeJob(
            ws,
            { taskId, attempt: 1, workerId: 'w1', outcome: { kind: 'delete-vm' } },
            ids,
          ),
        )
        .thenNothingHappened(),
    ).toThrow('Outcome delete-vm does not fit job create-disks');
  });

  it('the disks could not be made: the VM failed and its space returns', () => {
    spec
      .given(...making)
      .when((ws, ids) =>
        abandonJob(
          ws,
          { taskId, attempt: 1, cancelled: false, code: 'DISK.FULL', message: 'full' },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [
          {
            type: 'TaskFailed',
            data: { taskId, attempt: 1, code: 'DISK.FULL', message: 'full', reasons: [] },
          },
        ]),
        stream('vm', vmId, [
          {
            type: 'VmProvisioningFailed',
            data: { vmId, taskId, code: 'DISK.FULL', message: 'full' },
          },
        ]),
        stream('datastore', datastoreId, [
          {
            type: 'DatastoreSpaceReleased',
            data: { datastoreId, diskIds: [diskId], reason: `task ${taskId} failed` },
          },
        ]),
      );
  });
});
