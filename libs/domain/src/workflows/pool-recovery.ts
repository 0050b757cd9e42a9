import type { Job, Placement } from '../jobs/jobs';
import { IllegalStateError } from '../shared/errors';
import { abandonJob } from './job-outcomes';
import { pushImage } from './pool-image';
import { keepPoolGoing } from './pool-desktops';
import { type IdSource, existingPool } from './steps';
import type { Workspace } from './workspace';

/**
 * Recover: the pool's VMs held by workers found gone are powered off where they stood; its lost
 * machines are recreated from the parent, and, when the parent itself is lost, the pool's image
 * is built again (a push of the same golden snapshot) on live workers first.
 */
export function recoverPool(
  ws: Workspace,
  request: { poolId: string; taskId: string; lostWorkers: string[]; placement: Placement },
  ids: IdSource,
): void {
  const pool = existingPool(ws, request.poolId);
  const poolVms = [...pool.machines.map((m) => m.vmId), ...pool.internalVms.map((v) => v.vmId)];
  abandonWorkOfLostWorkers(ws, poolVms, request.lostWorkers, ids);
  const onLostWorker = (vmId: string) => {
    const vm = ws.vm(vmId);
    return vm.status === 'present' && vm.live && request.lostWorkers.includes(vm.live.workerId)
      ? vm.live.workerId
      : null;
  };
  const lost = poolVms
    .map((vmId) => ({ vmId, workerId: onLostWorker(vmId) }))
    .filter((vm): vm is { vmId: string; workerId: string } => vm.workerId !== null);
  if (lost.length === 0)
    throw new IllegalStateError(
      'POOL.NOTHING_TO_RECOVER',
      `Every running VM of pool ${pool.settings.name} is on a worker that answers`,
    );
  for (const { vmId, workerId } of lost) {
    ws.decideVm({ type: 'RecordHostLost', data: { vmId, workerId } });
  }
  ws.decidePool({
    type: 'RecordMachinesLost',
    data: {
      poolId: pool.poolId,
      vmIds: lost.map((vm) => vm.vmId).filter((vmId) => pool.machines.some((m) => m.vmId === vmId)),
      workerIds: [...new Set(lost.map((vm) => vm.workerId))],
    },
  });
  if (lost.some((vm) => pool.image.parents.some((p) => p.parentVmId === vm.vmId))) {
    const { goldenVmId, snapshotId } = pool.image;
    pushImage(ws, { ...request, goldenVmId, snapshotId, rollout: pool.rollout }, ids);
  }
  keepPoolGoing(ws, pool.poolId, ids);
}

/**
 * Jobs a lost worker held (a fork, a refresh, a delete of a running machine) will never end:
 * they fail now, as the worker would have reported, so that what waits for them goes on.
 */
function abandonWorkOfLostWorkers(
  ws: Workspace,
  vmIds: string[],
  lostWorkers: string[],
  ids: IdSource,
) {
  for (const vmId of vmIds) {
    const vm = ws.vm(vmId);
    if (vm.status !== 'present') continue;
    const taskId =
      vm.busy?.taskId ?? (vm.lifecycle === 'provisioning' ? vm.provisioningTaskId : null);
    if (!taskId) continue;
    const task = ws.task(taskId);
    if (task.status !== 'queued' && task.status !== 'running') continue;
    const { placement } = task;
    if (placement.kind !== 'worker' || !lostWorkers.includes(placement.workerId)) continue;
    if (!isChainJob(task.job)) continue;
    abandonJob(
      ws,
      {
        taskId,
        attempt: task.attempt,
        cancelled: false,
        code: 'WORKER.LOST',
        message: `Worker ${placement.workerId}, which held this job, is gone`,
      },
      ids,
    );
  }
}

/** The chain's jobs (forks, images, refreshes, a pool's deletions): a lost worker's are failed here. */
function isChainJob(job: Job): boolean {
  return (
    job.kind === 'fork' ||
    job.kind === 'pool-image' ||
    job.kind === 'refresh' ||
    (job.kind === 'delete-vm' && job.poolId !== null)
  );
}
