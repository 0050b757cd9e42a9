import {
  datastoreEvents,
  hostEvents,
  inventory,
  numberedId,
  stream,
  vmEvents,
  workflowSpecification,
} from '@dolly/testing/pure';
import type { ExportJob } from '../jobs/jobs';
import { abandonJob, completeJob } from './job-outcomes';
import { startExport } from './export-vm';
import { requestPower } from './power';

const { vmId, diskId, snapshotId, datastoreId, hostId } = inventory;
const taskId = numberedId(0x2e01);
const GiB = 1024 ** 3;
const placement = { kind: 'group' as const, group: 'ds-01' };
const transfer = { tokenSha256: 'e'.repeat(64) };
const spec = workflowSpecification();
const vm = stream('vm', vmId, vmEvents);
const job = (snapshot: string | null, layerId: string | null): ExportJob => ({
  kind: 'export',
  vmId,
  datastoreId,
  snapshotId: snapshot,
  transfer,
  vm: {
    name: 'win11-golden',
    hardware: {
      vcpus: 2,
      memoryBytes: 4 * GiB,
      hardwareVersion: 'vmx-19',
      guestOs: 'windows11_64Guest',
    },
    nics: [{ macAddress: '02:00:00:00:01:01', network: 'VM Network' }],
  },
  disks: [{ diskId, label: 'Hard disk 1', capacityBytes: 32 * GiB, layerId }],
});

describe('export a VM as an OVA', () => {
  it('a powered-off VM: busy exporting its disks as they are, the job says what the descriptor needs', () => {
    spec
      .given(vm)
      .when((ws) => startExport(ws, { vmId, taskId, snapshotId: null, transfer, placement }))
      .then(
        stream('vm', vmId, [{ type: 'VmExportStarted', data: { vmId, taskId, snapshotId: null } }]),
        stream('task', taskId, [
          {
            type: 'TaskQueued',
            data: {
              taskId,
              operation: 'ExportVm',
              target: { type: 'vm', id: vmId },
              job: job(null, null),
              placement,
            },
          },
        ]),
      );
  });

  it('a snapshot: its frozen layers', () => {
    spec
      .given(vm)
      .when((ws) => startExport(ws, { vmId, taskId, snapshotId, transfer, placement }))
      .then(
        stream('vm', vmId, [{ type: 'VmExportStarted', data: { vmId, taskId, snapshotId } }]),
        stream('task', taskId, [
          {
            type: 'TaskQueued',
            data: {
              taskId,
              operation: 'ExportVm',
              target: { type: 'vm', id: vmId },
              job: job(snapshotId, 'golden-v1'),
              placement,
            },
          },
        ]),
      );
  });

  it('refuses a snapshot the VM does not have', () => {
    spec
      .given(vm)
      .when((ws) =>
        startExport(ws, { vmId, taskId, snapshotId: numberedId(0xbad), transfer, placement }),
      )
      .thenThrows('SNAPSHOT.NOT_FOUND');
  });

  const exporting = [
    stream('host', hostId, hostEvents),
    stream('datastore', datastoreId, datastoreEvents),
    stream('vm', vmId, [
      ...vmEvents,
      { type: 'VmExportStarted', data: { vmId, taskId, snapshotId: null } } as never,
    ]),
    stream('task', taskId, [
      {
        type: 'TaskQueued',
        data: {
          taskId,
          operation: 'ExportVm',
          target: { type: 'vm', id: vmId },
          job: job(null, null),
          placement,
        },
      } as never,
      { type: 'TaskStarted', data: { taskId, attempt: 1, workerId: 'w1' } } as never,
    ]),
  ];

  it('takes no power change while exporting', () => {
    spec
      .given(...exporting)
      .when((ws, ids) =>
        requestPower(ws, {
          vmId,
          to: 'poweredOn',
          taskId: ids.id(),
          memoryImageId: ids.id(),
          placement,
          operation: 'PowerOnVm',
          requester: { by: 'person', force: false },
        }),
      )
      .thenThrows('VM.BUSY');
  });

  it('ends: the VM is free again, whether the export succeeded or not', () => {
    spec
      .given(...exporting)
      .when((ws, ids) =>
        completeJob(ws, { taskId, attempt: 1, workerId: 'w1', outcome: { kind: 'export' } }, ids),
      )
      .then(
        stream('task', taskId, [{ type: 'TaskSucceeded', data: { taskId, attempt: 1 } }]),
        stream('vm', vmId, [
          { type: 'VmExportFinished', data: { vmId, taskId, outcome: 'succeeded' } },
        ]),
      );
    spec
      .given(...exporting)
      .when((ws, ids) =>
        abandonJob(
          ws,
          { taskId, attempt: 1, cancelled: true, code: 'TASK.CANCELLED', message: 'asked' },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [{ type: 'TaskCancelled', data: { taskId, attempt: 1 } }]),
        stream('vm', vmId, [
          { type: 'VmExportFinished', data: { vmId, taskId, outcome: 'cancelled' } },
        ]),
      );
  });
  it('ends cancelled when it was asked to stop, though the worker saw its download cut first', () => {
    const [host, datastore, vmStream, task] = exporting;
    spec
      .given(host, datastore, vmStream, {
        ...task,
        events: [...task.events, { type: 'TaskCancelRequested', data: { taskId } } as never],
      })
      .when((ws, ids) =>
        abandonJob(
          ws,
          {
            taskId,
            attempt: 1,
            cancelled: false,
            code: 'EXPORT.FAILED',
            message: 'Premature close',
          },
          ids,
        ),
      )
      .then(
        stream('task', taskId, [{ type: 'TaskCancelled', data: { taskId, attempt: 1 } }]),
        stream('vm', vmId, [
          { type: 'VmExportFinished', data: { vmId, taskId, outcome: 'cancelled' } },
        ]),
      );
  });
});
