import {
  datastoreEvents,
  datastoreRegistered,
  hostEvents,
  inventory,
  numberedId,
  stream,
  workflowSpecification,
} from '@dolly/testing/pure';
import type { ImportJob } from '../jobs/jobs';
import type { VmDefinition } from '../vm/vm';
import { abandonJob, completeJob } from './job-outcomes';
import { type ImportRequest, startImport } from './import-vm';

const { hostId, datastoreId } = inventory;
const vmId = numberedId(0x1c01);
const diskId = numberedId(0x1dc1);
const taskId = numberedId(0x1e01);
const GiB = 1024 ** 3;
const placement = { kind: 'group' as const, group: 'ds-01' };
const spec = workflowSpecification();
const host = stream('host', hostId, hostEvents);
const datastore = stream('datastore', datastoreId, datastoreEvents);
const descriptorSha256 = 'a'.repeat(64);

const definition: VmDefinition = {
  vmId,
  name: 'appliance',
  folder: '/dc/vm',
  hostId,
  datastoreId,
  hardware: { vcpus: 2, memoryBytes: 4 * GiB, hardwareVersion: 'vmx-13', guestOs: 'otherGuest' },
  disks: [{ diskId, label: 'Hard disk 1', capacityBytes: 16 * GiB, format: 'thin' }],
  nics: [{ macAddress: '02:00:00:00:1c:01', network: 'VM Network' }],
  biosUuid: numberedId(0x1b01),
};
const request: ImportRequest = {
  definition,
  role: 'vm',
  taskId,
  placement,
  source: { kind: 'upload', transfer: { tokenSha256: 'b'.repeat(64) } },
  package: { name: 'appliance.ova', descriptorSha256 },
  virtualSystemId: 'appliance',
  deploymentOption: null,
  requireCertificate: false,
  ovfDiskIds: ['vmdisk1'],
  packageReasons: [],
  populatedBytes: [3 * GiB],
};
const job: ImportJob = {
  kind: 'import',
  vmId,
  datastoreId,
  source: request.source,
  package: request.package,
  virtualSystemId: 'appliance',
  deploymentOption: null,
  requireCertificate: false,
  disks: [{ ovfDiskId: 'vmdisk1', diskId, capacityBytes: 16 * GiB, format: 'thin' }],
};
const created = {
  type: 'VmCreated',
  data: {
    ...definition,
    role: 'vm',
    provisioningTaskId: taskId,
    origin: { kind: 'import', packageName: 'appliance.ova', descriptorSha256 },
    poolId: null,
  },
};
const claims = [{ diskId, physicalBytes: 3 * GiB + 1024 ** 2, provisionedBytes: 16 * GiB }];
const queued = {
  type: 'TaskQueued',
  data: { taskId, operation: 'ImportVm', target: { type: 'vm', id: vmId }, job, placement },
};

describe('import an OVF package', () => {
  it('puts the VM in the inventory as imported, claims its disks’ space and queues the import', () => {
    spec
      .given(host, datastore)
      .when((ws) => startImport(ws, request))
      .then(
        stream('vm', vmId, [created]),
        stream('datastore', datastoreId, [
          { type: 'DatastoreSpaceReserved', data: { datastoreId, taskId, claims } },
        ]),
        stream('task', taskId, [queued]),
      );
  });

  it('says every reason at once: the package’s, the host’s and the datastore’s', () => {
    const error = spec
      .given(
        host,
        stream('datastore', datastoreId, [datastoreRegistered(datastoreId, 'ds-01', 2 * GiB)]),
      )
      .when((ws) =>
        startImport(ws, {
          ...request,
          definition: {
            ...definition,
            hardware: {
              ...definition.hardware,
              hardwareVersion: 'vmx-21',
              memoryBytes: 512 * GiB,
            },
          },
          packageReasons: [{ code: 'MANIFEST.DIGEST_MISMATCH', detail: 'disk1.vmdk' }],
        }),
      )
      .thenThrows('IMPORT.REFUSED', [
        'MANIFEST.DIGEST_MISMATCH',
        'HOST.HARDWARE_VERSION_UNSUPPORTED',
        'HOST.NOT_ENOUGH_MEMORY',
        'DATASTORE.CAPACITY_EXCEEDED',
        'DATASTORE.OVERCOMMIT_EXCEEDED',
      ]);
    expect(error.reasons.find((r) => r.code === 'DATASTORE.CAPACITY_EXCEEDED')?.pointer).toBe(
      '/datastoreId',
    );
  });

  it('refuses an unknown host and datastore, and records nothing', () => {
    spec
      .given()
      .when((ws) => startImport(ws, request))
      .thenThrows('IMPORT.REFUSED', ['HOST.NOT_FOUND', 'DATASTORE.NOT_FOUND']);
  });

  const importing = [
    host,
    stream('vm', vmId, [created as never]),
    stream('datastore', datastoreId, [
      ...datastoreEvents,
      { type: 'DatastoreSpaceReserved', data: { datastoreId, taskId, claims } } as never,
    ]),
    stream('task', taskId, [
      queued as never,
      { type: 'TaskStarted', data: { taskId, attempt: 1, workerId: 'w1' } } as never,
    ]),
  ];
  const provenance = {
    name: 'appliance.ova',
    descriptorSha256,
    manifestSha256: 'c'.repeat(64),
    certificate: { subject: 'CN=Vendor', fingerprintSha256: 'd'.repeat(64) },
  };

  it('the package read to its end: the VM records its provenance and is ready', () => {
    const disks = [{ diskId, layerId: 'imported-top', allocatedBytes: 3 * GiB }];
    spec
      .given(...importing)
      .when((ws, ids) =>
        completeJob(
          ws,
          {
            taskId,
            attempt: 1,
            workerId: 'w1',
            outcome: { kind: 'import', disks, package: provenance },
          },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [{ type: 'TaskSucceeded', data: { taskId, attempt: 1 } }]),
        stream('vm', vmId, [
          { type: 'VmImported', data: { vmId, taskId, package: provenance } },
          { type: 'VmProvisioned', data: { vmId, taskId, disks } },
        ]),
      );
  });

  it('a package refused at its end: no VM, its space returns, the task says every reason', () => {
    const reasons = [
      { code: 'MANIFEST.DIGEST_MISMATCH', detail: 'disk1.vmdk differs', at: 'disk1.vmdk' },
      { code: 'MANIFEST.MEMBER_NOT_LISTED', detail: 'extra.iso is not listed' },
    ];
    const ending = {
      taskId,
      attempt: 1,
      cancelled: false,
      code: 'IMPORT.REFUSED',
      message: 'the package was refused for 2 reasons',
      reasons,
    };
    spec
      .given(...importing)
      .when((ws, ids) => abandonJob(ws, ending, ids))
      .then(
        stream('task', taskId, [
          {
            type: 'TaskFailed',
            data: { taskId, attempt: 1, code: ending.code, message: ending.message, reasons },
          },
        ]),
        stream('vm', vmId, [
          {
            type: 'VmProvisioningFailed',
            data: { vmId, taskId, code: ending.code, message: ending.message },
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

  it('opens the transfer for the running attempt only, and only for a package job', () => {
    const url = 'http://127.0.0.1:8082';
    spec
      .given(...importing)
      .when((ws) => ws.decideTask({ type: 'OpenTransfer', data: { taskId, attempt: 1, url } }))
      .then(
        stream('task', taskId, [{ type: 'TaskTransferOpened', data: { taskId, attempt: 1, url } }]),
      );
    spec
      .given(...importing)
      .when((ws) => ws.decideTask({ type: 'OpenTransfer', data: { taskId, attempt: 2, url } }))
      .thenThrows('TASK.ATTEMPT_SUPERSEDED');
  });
});
