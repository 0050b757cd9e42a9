import { THIN_LAYER_OVERHEAD_BYTES } from '../datastore/datastore';
import type { CloneJob, Placement } from '../jobs/jobs';
import { IllegalStateError } from '../shared/errors';
import type {
  CloneFormat,
  DiskFormat,
  DiskPlacement,
  Nic,
  VirtualHardware,
  VmRole,
} from '../vm/vm.events';
import { requestPower } from './power';
import {
  type IdSource,
  type JobEnding,
  failureOf,
  physicalNeed,
  present,
  queue,
  release,
  releaseReason,
  reserve,
} from './steps';
import type { Workspace } from './workspace';

/** Clone: VM → VM, VM → template, template → template, template → VM (deploy). */
export interface CloneRequest {
  sourceVmId: string;
  targetVmId: string;
  taskId: string;
  name: string;
  folder?: string;
  role: VmRole;
  hostId?: string;
  datastoreId?: string;
  linked: boolean;
  snapshotId: string | null;
  format: CloneFormat;
  hardware?: Partial<Pick<VirtualHardware, 'vcpus' | 'memoryBytes'>>;
  /** New identity: fresh disk ids (one per source disk, in order), MACs (one per NIC), BIOS UUID. */
  identity: { diskIds: string[]; macAddresses: string[]; biosUuid: string };
  placement: Placement;
  operation: string;
  /** Power the clone on once its disks exist (a second task, queued with the clone's outcome). */
  powerOnAfter: boolean;
}

/** The source is busy cloning, the clone is in the inventory, a worker copies the disks. */
export function startClone(ws: Workspace, input: CloneRequest): void {
  const source = present(ws, input.sourceVmId);
  if (
    input.identity.diskIds.length !== source.disks.length ||
    input.identity.macAddresses.length !== source.nics.length
  ) {
    throw new Error('A clone needs one new disk id per disk and one MAC address per NIC');
  }
  const datastoreId = input.datastoreId ?? source.datastoreId;
  if (input.linked && datastoreId !== source.datastoreId) {
    throw new IllegalStateError(
      'CLONE.LINKED_ACROSS_DATASTORES',
      'A linked clone stands on its source’s layers: it stays on the same datastore',
    );
  }
  ws.decideVm({
    type: 'StartClone',
    data: {
      vmId: source.vmId,
      taskId: input.taskId,
      targetVmId: input.targetVmId,
      linked: input.linked,
      snapshotId: input.snapshotId,
      format: input.format,
    },
  });
  const snapshot = input.snapshotId
    ? source.snapshots.find((s) => s.snapshotId === input.snapshotId)!
    : null;
  const formatOf = (sourceFormat: DiskFormat): DiskFormat =>
    input.linked ? 'thin' : input.format === 'same' ? sourceFormat : input.format;
  const disks = source.disks.map((disk, index) => ({
    ...disk,
    diskId: input.identity.diskIds[index],
    format: formatOf(disk.format),
  }));
  const nics: Nic[] = source.nics.map((nic, index) => ({
    ...nic,
    macAddress: input.identity.macAddresses[index],
  }));
  const hostId = input.hostId ?? source.hostId;
  ws.decideVm(
    {
      type: 'CreateClone',
      data: {
        vmId: input.targetVmId,
        name: input.name,
        folder: input.folder ?? source.folder,
        role: input.role,
        hostId,
        datastoreId,
        hardware: { ...source.hardware, ...input.hardware },
        disks,
        nics,
        biosUuid: input.identity.biosUuid,
        provisioningTaskId: input.taskId,
        origin: {
          kind: 'clone',
          sourceVmId: source.vmId,
          snapshotId: input.snapshotId,
          linked: input.linked,
          format: input.format,
        },
        poolId: null,
      },
    },
    { host: ws.host(hostId), datastore: ws.datastore(datastoreId) },
  );
  const allocatedOf = (diskId: string) =>
    source.placements.find((p) => p.diskId === diskId)?.allocatedBytes ?? 0;
  reserve(
    ws,
    datastoreId,
    input.taskId,
    disks.map((disk, index) => ({
      diskId: disk.diskId,
      // A linked clone's delta starts empty; a thin copy needs what the source holds (the worker
      // measures it exactly with qemu-img measure before writing and claims again if it needs more).
      physicalBytes: input.linked
        ? THIN_LAYER_OVERHEAD_BYTES
        : physicalNeed(disk.format, disk.capacityBytes, allocatedOf(source.disks[index].diskId)),
      provisionedBytes: disk.capacityBytes,
    })),
  );
  const job: CloneJob = {
    kind: 'clone',
    sourceVmId: source.vmId,
    targetVmId: input.targetVmId,
    sourceDatastoreId: source.datastoreId,
    targetDatastoreId: datastoreId,
    linked: input.linked,
    snapshotId: input.snapshotId,
    format: input.format,
    live: source.powerState === 'poweredOn' && snapshot === null,
    powerOnAfter: input.powerOnAfter,
    disks: source.disks.map((disk, index) => ({
      sourceDiskId: disk.diskId,
      sourceLayerId: snapshot?.layers.find((l) => l.diskId === disk.diskId)?.layerId ?? null,
      diskId: disks[index].diskId,
      capacityBytes: disk.capacityBytes,
      format: disks[index].format,
    })),
  };
  queue(
    ws,
    input.taskId,
    input.operation,
    { type: 'vm', id: input.targetVmId },
    job,
    input.placement,
  );
}

/**
 * The disks are copied: the clone is ready, the source free again, and a clone to power on
 * afterwards starts a power task of its own, on the worker that holds its new disks.
 */
export function completeClone(
  ws: Workspace,
  job: CloneJob,
  report: { taskId: string; workerId: string; disks: DiskPlacement[] },
  ids: IdSource,
): void {
  const { taskId } = report;
  ws.decideVm({
    type: 'RecordCloned',
    data: { vmId: job.targetVmId, taskId, disks: report.disks },
  });
  ws.decideVm({
    type: 'FinishClone',
    data: { vmId: job.sourceVmId, taskId, targetVmId: job.targetVmId, outcome: 'succeeded' },
  });
  if (!job.powerOnAfter) return;
  requestPower(ws, {
    vmId: job.targetVmId,
    to: 'poweredOn',
    taskId: ids.id(),
    memoryImageId: ids.id(),
    placement: { kind: 'worker', workerId: report.workerId },
    operation: 'PowerOnVm',
    requester: { by: 'person', force: false },
  });
}

/** No clone came to be: it leaves the inventory, the source is free again, the space returns. */
export function abandonClone(ws: Workspace, job: CloneJob, ending: JobEnding): void {
  ws.decideVm({
    type: 'RecordProvisioningFailed',
    data: { vmId: job.targetVmId, ...failureOf(ending) },
  });
  ws.decideVm({
    type: 'FinishClone',
    data: {
      vmId: job.sourceVmId,
      taskId: ending.taskId,
      targetVmId: job.targetVmId,
      outcome: ending.cancelled ? 'cancelled' : 'failed',
    },
  });
  release(
    ws,
    job.targetDatastoreId,
    job.disks.map((d) => d.diskId),
    releaseReason(ending),
  );
}
