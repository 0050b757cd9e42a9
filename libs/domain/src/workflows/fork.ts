import { THIN_LAYER_OVERHEAD_BYTES } from '../datastore/datastore';
import type { ForkJob } from '../jobs/jobs';
import type { Requester } from '../vm/vm';
import type { DiskPlacement, LiveExport } from '../vm/vm.events';
import {
  type IdSource,
  type JobEnding,
  failureOf,
  present,
  queue,
  release,
  releaseReason,
  standsOn,
  workerOf,
} from './steps';
import type { Workspace } from './workspace';

/** Fork an instant clone from a running VM (by hand, or a pool's machine from its parent). */
export interface ForkRequest {
  parentVmId: string;
  vmId: string;
  taskId: string;
  name: string;
  folder?: string;
  poolId: string | null;
  operation: string;
  /** The NICs' MAC addresses, when the clone takes over a desktop's (else new ones). */
  macAddresses?: string[];
}

/** Forks an instant clone from a running VM: copy-on-write overlays of its disks and memory, no boot. */
export function startFork(ws: Workspace, request: ForkRequest, ids: IdSource): void {
  const { vmId, taskId } = request;
  const parent = present(ws, request.parentVmId);
  // A pool forks its machines from its own parent; anyone may fork from a running VM of theirs.
  const requester: Requester = request.poolId
    ? { by: 'pool', poolId: request.poolId }
    : { by: 'person', force: false };
  ws.decideVm({
    type: 'StartFork',
    data: { vmId: parent.vmId, taskId, targetVmId: vmId, requester },
  });
  const disks = parent.disks.map((disk) => ({
    ...disk,
    diskId: ids.id(),
    format: 'thin' as const,
  }));
  const replicaVmId = standsOn(parent);
  ws.create('vm', vmId);
  ws.decideVm(
    {
      type: 'CreateClone',
      data: {
        vmId,
        name: request.name,
        folder: request.folder ?? parent.folder,
        role: 'instant-clone',
        hostId: parent.hostId,
        datastoreId: parent.datastoreId,
        hardware: parent.hardware,
        disks,
        nics: parent.nics.map((nic, index) => ({
          ...nic,
          macAddress: request.macAddresses?.[index] ?? ids.macAddress(),
        })),
        biosUuid: ids.id(),
        provisioningTaskId: taskId,
        origin: { kind: 'fork', parentVmId: parent.vmId, replicaVmId, poolId: request.poolId },
        poolId: request.poolId,
      },
    },
    { host: ws.host(parent.hostId), datastore: ws.datastore(parent.datastoreId) },
  );
  ws.decideDatastore({
    type: 'ReserveSpace',
    data: {
      datastoreId: parent.datastoreId,
      taskId,
      claims: disks.map((disk) => ({
        diskId: disk.diskId,
        physicalBytes: THIN_LAYER_OVERHEAD_BYTES,
        provisionedBytes: disk.capacityBytes,
      })),
    },
  });
  const job: ForkJob = {
    kind: 'fork',
    parentVmId: parent.vmId,
    targetVmId: vmId,
    replicaVmId,
    poolId: request.poolId,
    datastoreId: parent.datastoreId,
    disks: parent.disks.map((disk, index) => ({
      sourceDiskId: disk.diskId,
      diskId: disks[index].diskId,
    })),
    memoryImage: { sourceImageId: parent.live!.memoryImage.imageId, imageId: ids.id() },
  };
  queue(ws, taskId, request.operation, { type: 'vm', id: vmId }, job, workerOf(parent));
}

function finishFork(
  ws: Workspace,
  job: ForkJob,
  taskId: string,
  outcome: 'succeeded' | 'failed' | 'cancelled',
  exports: LiveExport[] | null,
) {
  if (ws.vm(job.parentVmId).status !== 'present') return;
  ws.decideVm({
    type: 'FinishFork',
    data: { vmId: job.parentVmId, taskId, targetVmId: job.targetVmId, outcome, exports },
  });
}

export interface ForkOutcome {
  kind: 'fork';
  disks: DiskPlacement[];
  workerId: string;
  exports: LiveExport[];
  memoryImage: LiveExport;
  /** The parent's exports when this fork froze it (its first); null when they did not change. */
  parentExports: LiveExport[] | null;
}

/**
 * The clone runs on the worker: the parent is free again, the clone stands on the replica.
 * (A pool's machine: the pool takes note after, see job-outcomes.ts.)
 */
export function completeFork(
  ws: Workspace,
  job: ForkJob,
  taskId: string,
  outcome: ForkOutcome,
): void {
  const { disks, workerId, exports, memoryImage } = outcome;
  ws.decideVm({
    type: 'RecordForked',
    data: { vmId: job.targetVmId, taskId, disks, workerId, exports, memoryImage },
  });
  finishFork(ws, job, taskId, 'succeeded', outcome.parentExports);
  // Linked to the replica, not to the parent: the parent may go, the replica stays while it lives.
  if (job.replicaVmId && ws.vm(job.replicaVmId).status === 'present') {
    ws.decideVm({
      type: 'AttachLinkedClone',
      data: { vmId: job.replicaVmId, dependantVmId: job.targetVmId },
    });
  }
}

/** No clone came to be: it leaves the inventory, the parent is free again, the space returns. */
export function abandonFork(ws: Workspace, job: ForkJob, ending: JobEnding): void {
  ws.decideVm({
    type: 'RecordProvisioningFailed',
    data: { vmId: job.targetVmId, ...failureOf(ending) },
  });
  finishFork(ws, job, ending.taskId, ending.cancelled ? 'cancelled' : 'failed', null);
  release(
    ws,
    job.datastoreId,
    job.disks.map((d) => d.diskId),
    releaseReason(ending),
  );
}
