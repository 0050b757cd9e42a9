import type { DeleteVmJob, Placement } from '../jobs/jobs';
import { type ExistingVm, type Requester, memoryImageOf } from '../vm/vm';
import { type JobEnding, present, queue, recordTaskFailed, release, standsOn } from './steps';
import type { Workspace } from './workspace';

/** Deleting a VM's disks and memory image: closed first when it runs, its source let go after. */
export function deleteVmJob(vm: ExistingVm, poolId: string | null): DeleteVmJob {
  return {
    kind: 'delete-vm',
    vmId: vm.vmId,
    datastoreId: vm.datastoreId,
    diskIds: vm.disks.map((disk) => disk.diskId),
    memoryImageId: memoryImageOf(vm),
    live: vm.powerState === 'poweredOn',
    linkedTo: standsOn(vm),
    poolId,
  };
}

/** A person deletes a VM (a pool deletes its own: pool-desktops.ts). */
export function requestDelete(
  ws: Workspace,
  input: { vmId: string; taskId: string; placement: Placement; requester: Requester },
): void {
  const vm = present(ws, input.vmId);
  const { taskId, requester } = input;
  ws.decideVm({ type: 'DeleteVm', data: { vmId: vm.vmId, taskId, requester } });
  queue(
    ws,
    taskId,
    'DeleteVm',
    { type: 'vm', id: vm.vmId },
    deleteVmJob(vm, null),
    input.placement,
  );
}

/**
 * The files are gone: the VM leaves the inventory, its space returns, the VM it stood on lets it
 * go. (A pool's VM: the pool takes note after, see job-outcomes.ts.)
 */
export function completeDeleteVm(ws: Workspace, job: DeleteVmJob, taskId: string): void {
  ws.decideVm({ type: 'RecordDeleted', data: { vmId: job.vmId, taskId } });
  release(ws, job.datastoreId, job.diskIds, 'the VM was deleted');
  if (job.linkedTo && ws.vm(job.linkedTo).status === 'present') {
    ws.decideVm({
      type: 'ReleaseLinkedClone',
      data: { vmId: job.linkedTo, dependantVmId: job.vmId },
    });
  }
}

/** The files could not be deleted: the VM stays, no longer busy. */
export function abandonDeleteVm(ws: Workspace, job: DeleteVmJob, ending: JobEnding): void {
  recordTaskFailed(ws, job.vmId, ending);
}
