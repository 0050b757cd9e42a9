import { THIN_LAYER_OVERHEAD_BYTES } from '../datastore/datastore';
import type { DatastoreUsageMeasured, SpaceClaim } from '../datastore/datastore.events';
import type { Job, Placement } from '../jobs/jobs';
import type { ExistingPool } from '../pool/pool';
import { IllegalStateError, NotFoundError } from '../shared/errors';
import type { TaskState } from '../task/task';
import type { TaskFailed } from '../task/task.events';
import type { ExistingVm } from '../vm/vm';
import type { DiskBlockMap, DiskFormat } from '../vm/vm.events';
import type { Workspace } from './workspace';

/**
 * The small steps every workflow is made of: find what must exist, queue a task, claim and
 * release space. Each is a command (or a read) on one stream of the Workspace.
 */

/** Where new ids come from: the caller's generator (random in production, fixed in tests). */
export interface IdSource {
  id(): string;
  macAddress(): string;
}

export function present(ws: Workspace, vmId: string): ExistingVm {
  const state = ws.vm(vmId);
  if (state.status !== 'present')
    throw new NotFoundError('VM.NOT_FOUND', `VM ${vmId} does not exist`);
  return state;
}

export function existingPool(ws: Workspace, poolId: string): ExistingPool {
  const state = ws.pool(poolId);
  if (state.status !== 'present')
    throw new NotFoundError('POOL.NOT_FOUND', `Pool ${poolId} does not exist`);
  return state;
}

export function existingTask(
  ws: Workspace,
  taskId: string,
): Exclude<TaskState, { status: 'absent' }> {
  const task = ws.task(taskId);
  if (task.status === 'absent')
    throw new NotFoundError('TASK.NOT_FOUND', `Task ${taskId} does not exist`);
  return task;
}

/** A new task carries the job to a worker. */
export function queue(
  ws: Workspace,
  taskId: string,
  operation: string,
  target: { type: 'vm' | 'pool' | 'datastore' | 'read-models'; id: string },
  job: Job,
  placement: Placement,
) {
  ws.decideTask({ type: 'QueueTask', data: { taskId, operation, target, job, placement } });
}

/** A running VM's disks and memory live in one worker's storage daemon: that worker does its jobs. */
export function workerOf(vm: ExistingVm): Placement {
  if (!vm.live) throw new IllegalStateError('VM.NOT_LIVE', `${vm.name} is not held by any worker`);
  return { kind: 'worker', workerId: vm.live.workerId };
}

export function reserve(ws: Workspace, datastoreId: string, taskId: string, claims: SpaceClaim[]) {
  if (claims.length === 0) return;
  ws.decideDatastore({ type: 'ReserveSpace', data: { datastoreId, taskId, claims } });
}

/** Claimed space returns; nothing to do on a datastore gone meanwhile. */
export function release(ws: Workspace, datastoreId: string, diskIds: string[], reason: string) {
  if (ws.datastore(datastoreId).status !== 'registered' || diskIds.length === 0) return;
  ws.decideDatastore({ type: 'ReleaseSpace', data: { datastoreId, diskIds, reason } });
}

/** What a new disk may take: thick disks all of their capacity, thin ones their measured need. */
export function physicalNeed(format: DiskFormat, capacityBytes: number, thinNeedBytes = 0): number {
  return format === 'thin'
    ? thinNeedBytes + THIN_LAYER_OVERHEAD_BYTES
    : capacityBytes + THIN_LAYER_OVERHEAD_BYTES;
}

/** The VM a linked clone (or an instant clone) stands on, whose deletion it holds back. */
export function standsOn(vm: ExistingVm): string | null {
  if (vm.origin.kind === 'clone' && vm.origin.linked) return vm.origin.sourceVmId;
  if (vm.origin.kind === 'fork') return vm.origin.replicaVmId;
  return null;
}

/** What the worker measured after the work: block maps of the disks it touched, the datastore's usage. */
export interface Measurements {
  blockMaps: DiskBlockMap[];
  usage: Omit<DatastoreUsageMeasured['data'], 'datastoreId'> | null;
}

/** How a worker's attempt ended without its effect. */
export interface JobEnding {
  taskId: string;
  attempt: number;
  cancelled: boolean;
  code: string;
  message: string;
  /** Every reason, when the job found several (a refused package). */
  reasons?: TaskFailed['data']['reasons'];
}

/** The task's own ending: cancelled as asked, or failed with its stable code and reason. */
export function endTask(ws: Workspace, ending: JobEnding) {
  const { taskId, attempt, code, message, reasons } = ending;
  ws.decideTask(
    ending.cancelled
      ? { type: 'ConfirmTaskCancelled', data: { taskId, attempt } }
      : { type: 'FailTask', data: { taskId, attempt, code, message, reasons } },
  );
}

/** Why space a task claimed is released when the task ends without its effect. */
export const releaseReason = (ending: JobEnding) =>
  `task ${ending.taskId} ${ending.cancelled ? 'was cancelled' : 'failed'}`;

/** What a VM records when a task on it failed or was cancelled. */
export const failureOf = (ending: JobEnding) => ({
  taskId: ending.taskId,
  code: ending.code,
  message: ending.message,
});

/** A task on a VM ended without its effect: the VM is no longer busy, and says why. */
export function recordTaskFailed(ws: Workspace, vmId: string, ending: JobEnding) {
  ws.decideVm({ type: 'RecordTaskFailed', data: { vmId, ...failureOf(ending) } });
}
