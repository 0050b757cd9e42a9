import type { DeleteVmJob, ForkJob, Placement, RefreshJob } from '../jobs/jobs';
import {
  type ExistingPool,
  type PoolMachine,
  desktopOf,
  desktopsToLogOff,
  isOutdated,
  machinesWanted,
  nextSpare,
  parentForNextMachine,
  removalsDue,
} from '../pool/pool';
import type { PoolSettings } from '../pool/pool.events';
import { IllegalStateError, NotFoundError } from '../shared/errors';
import type { Requester } from '../vm/vm';
import type { DiskPlacement, LiveExport } from '../vm/vm.events';
import { deleteVmJob } from './delete-vm';
import { startFork } from './fork';
import {
  type IdSource,
  type JobEnding,
  existingPool,
  recordTaskFailed,
  present,
  queue,
  workerOf,
} from './steps';
import type { Workspace } from './workspace';

/**
 * A pool's desktops: forked from the image's parents to keep its spares (or its maximum), handed
 * to users, refreshed or deleted at logoff, removed when due (an earlier image's, at teardown),
 * recreated when their host is gone. keepPoolGoing is what the pool does by itself after any
 * change.
 */

/** Forks one machine for the pool: a spare (userId null) or the desktop a user waits for. */
function requestMachine(
  ws: Workspace,
  pool: ExistingPool,
  userId: string | null,
  taskId: string,
  ids: IdSource,
  replacing?: { vmId: string; macAddresses: string[] },
): PoolMachine {
  const parentVmId = parentForNextMachine(pool, (vmId) => runs(ws, vmId));
  if (pool.imageStatus === 'published' && !parentVmId)
    throw new IllegalStateError(
      'POOL.PARENT_NOT_RUNNING',
      `No parent of pool ${pool.settings.name} runs (their host is gone): recover the pool, then ask again`,
    );
  const vmId = ids.id();
  ws.decidePool({
    type: 'RequestMachine',
    data: {
      poolId: pool.poolId,
      vmId,
      taskId,
      userId,
      parentVmId: parentVmId ?? pool.image.parents[0].parentVmId,
      replacing: replacing?.vmId,
    },
  });
  const machine = existingPool(ws, pool.poolId).machines.find((m) => m.vmId === vmId)!;
  startFork(
    ws,
    {
      parentVmId: machine.parentVmId,
      vmId,
      taskId,
      name: machine.name,
      folder: `/pools/${pool.settings.name}`,
      poolId: pool.poolId,
      operation: 'ForkInstantClone',
      macAddresses: replacing?.macAddresses,
    },
    ids,
  );
  return machine;
}

/** The placement the pool's image was built with: its datastores' workers, for VMs no worker holds. */
function imagePlacement(ws: Workspace, pool: ExistingPool): Placement {
  const task = ws.task(pool.image.taskId);
  if (task.status === 'absent') throw new Error(`Pool ${pool.poolId} has no image task`);
  return task.placement;
}

/**
 * Deletes one of the pool's VMs (a machine, or an internal VM at teardown); on the pool's own say,
 * or on an admin's who forced it (recorded on the VM's deletion).
 */
function requestRemoval(
  ws: Workspace,
  pool: ExistingPool,
  vmId: string,
  taskId: string,
  requester: Requester = { by: 'pool', poolId: pool.poolId },
) {
  ws.decidePool({ type: 'RequestVmRemoval', data: { poolId: pool.poolId, vmId, taskId } });
  const vm = present(ws, vmId);
  ws.decideVm({ type: 'DeleteVm', data: { vmId, taskId, requester } });
  const placement = vm.live ? workerOf(vm) : imagePlacement(ws, pool);
  queue(ws, taskId, 'DeleteVm', { type: 'vm', id: vmId }, deleteVmJob(vm, pool.poolId), placement);
}

/**
 * What a pool does by itself after any change: remove what is due (an earlier image's spares and
 * chain, or, when it is being deleted, its VMs in order), log off desktops an immediate rollout
 * moves, and fork machines to keep its spares (or reach its maximum up front).
 */
export function keepPoolGoing(
  ws: Workspace,
  poolId: string,
  ids: IdSource,
  options = { replenish: true },
) {
  if (ws.pool(poolId).status !== 'present') return;
  for (const next of removalsDue(existingPool(ws, poolId))) {
    requestRemoval(ws, existingPool(ws, poolId), next.vmId, ids.id());
  }
  for (const desktop of desktopsToLogOff(existingPool(ws, poolId))) {
    endSession(ws, { poolId, vmId: desktop.vmId, taskId: ids.id() }, ids);
  }
  // Nothing forks from a parent whose host is gone: a recovery builds another first.
  if (!parentRuns(ws, existingPool(ws, poolId))) return;
  for (const lost of existingPool(ws, poolId).machines.filter((m) => m.status === 'lost')) {
    recreate(ws, existingPool(ws, poolId), lost, ids);
  }
  if (options.replenish) {
    for (let wanted = machinesWanted(existingPool(ws, poolId)); wanted > 0; wanted--) {
      requestMachine(ws, existingPool(ws, poolId), null, ids.id(), ids);
    }
  }
}

function runs(ws: Workspace, vmId: string): boolean {
  const vm = ws.vm(vmId);
  return vm.status === 'present' && vm.live !== null;
}

/** Whether the pool can fork now: its image is published and a parent of it runs. */
function parentRuns(ws: Workspace, pool: ExistingPool): boolean {
  if (pool.imageStatus !== 'published' || pool.lifecycle !== 'active') return false;
  return pool.image.parents.some((p) => runs(ws, p.parentVmId));
}

/** A machine whose host is gone: forked again under its name, MAC and user; the lost one removed. */
function recreate(ws: Workspace, pool: ExistingPool, lost: PoolMachine, ids: IdSource) {
  const macAddresses = present(ws, lost.vmId).nics.map((nic) => nic.macAddress);
  requestRemoval(ws, pool, lost.vmId, ids.id());
  requestMachine(ws, existingPool(ws, pool.poolId), lost.userId, ids.id(), ids, {
    vmId: lost.vmId,
    macAddresses,
  });
}

export interface Entitlement {
  vmId: string;
  name: string;
  /** ready: the desktop runs now; provisioning: it is being forked for the user (a task says when). */
  status: PoolMachine['status'];
  /** The task forking it, when it was made for this request. */
  taskId: string | null;
}

/**
 * Gives a user a desktop: the one they have, else a spare at once, else a new machine forked for
 * them (and, either way, new spares to keep the count). At the maximum it refuses with the reason.
 * Two requests deciding on the same pool version cannot both win: one decides again on fresh state.
 */
export function entitle(
  ws: Workspace,
  request: { poolId: string; userId: string; taskId: string },
  ids: IdSource,
): Entitlement {
  const pool = existingPool(ws, request.poolId);
  const held = desktopOf(pool, request.userId);
  if (held) return { vmId: held.vmId, name: held.name, status: held.status, taskId: null };
  const spare = nextSpare(pool);
  let machine: PoolMachine;
  let taskId: string | null = null;
  if (spare) {
    ws.decidePool({
      type: 'AssignDesktop',
      data: { poolId: pool.poolId, vmId: spare.vmId, userId: request.userId },
    });
    machine = spare;
  } else {
    machine = requestMachine(ws, pool, request.userId, request.taskId, ids);
    taskId = request.taskId;
  }
  keepPoolGoing(ws, pool.poolId, ids);
  return { vmId: machine.vmId, name: machine.name, status: machine.status, taskId };
}

/**
 * A user logged off: a floating desktop is deleted (and a spare made), a dedicated one refreshed.
 * A dedicated desktop of an earlier image is refreshed onto the current one: re-forked from it
 * under the same name and MAC addresses while the old one is removed.
 */
export function logOff(
  ws: Workspace,
  request: { poolId: string; vmId: string; taskId: string },
  ids: IdSource,
): void {
  endSession(ws, request, ids);
  keepPoolGoing(ws, request.poolId, ids);
}

function endSession(
  ws: Workspace,
  request: { poolId: string; vmId: string; taskId: string },
  ids: IdSource,
): void {
  const [loggedOff] = ws.decidePool({
    type: 'LogOff',
    data: { poolId: request.poolId, vmId: request.vmId },
  });
  if (loggedOff.type !== 'PoolDesktopLoggedOff') return;
  const pool = existingPool(ws, request.poolId);
  const machine = pool.machines.find((m) => m.vmId === request.vmId)!;
  if (loggedOff.data.then === 'delete') {
    requestRemoval(ws, pool, request.vmId, request.taskId);
  } else if (isOutdated(pool, machine)) {
    const macAddresses = present(ws, request.vmId).nics.map((nic) => nic.macAddress);
    requestRemoval(ws, pool, request.vmId, ids.id());
    requestMachine(ws, existingPool(ws, pool.poolId), loggedOff.data.userId, request.taskId, ids, {
      vmId: request.vmId,
      macAddresses,
    });
  } else {
    refresh(ws, request);
  }
}

/** A desktop back to its fork state (the replica's disks, the parent's memory), same name and MAC. */
function refresh(ws: Workspace, request: { poolId: string; vmId: string; taskId: string }) {
  ws.decidePool({ type: 'RequestMachineRefresh', data: { ...request } });
  const vm = present(ws, request.vmId);
  ws.decideVm({
    type: 'RequestRefresh',
    data: {
      vmId: vm.vmId,
      taskId: request.taskId,
      requester: { by: 'pool', poolId: request.poolId },
    },
  });
  const job: RefreshJob = {
    kind: 'refresh',
    vmId: vm.vmId,
    poolId: request.poolId,
    datastoreId: vm.datastoreId,
    diskIds: vm.disks.map((disk) => disk.diskId),
    memoryImageId: vm.live!.memoryImage.imageId,
  };
  queue(ws, request.taskId, 'RefreshMachine', { type: 'vm', id: vm.vmId }, job, workerOf(vm));
}

function machineOfPool(pool: ExistingPool, vmId: string): PoolMachine {
  const machine = pool.machines.find((m) => m.vmId === vmId);
  if (!machine)
    throw new NotFoundError(
      'POOL.MACHINE_NOT_FOUND',
      `Pool ${pool.settings.name} has no desktop ${vmId}`,
    );
  return machine;
}

/** Refresh, as Horizon's: the desktop goes back to its fork state, and its user keeps it. */
export function refreshMachine(
  ws: Workspace,
  request: { poolId: string; vmId: string; taskId: string },
): void {
  machineOfPool(existingPool(ws, request.poolId), request.vmId);
  refresh(ws, request);
}

/**
 * Remove, as Horizon's: the pool deletes one of its desktops (its user, if any, loses it) and
 * forks spares to keep its count. `forced`: an admin deleting the desktop as a VM, past the pool's
 * protection; the pool removes it all the same, so it never hands out a desktop that is gone.
 */
export function removeMachine(
  ws: Workspace,
  request: { poolId: string; vmId: string; taskId: string; forced: boolean },
  ids: IdSource,
): void {
  const pool = existingPool(ws, request.poolId);
  machineOfPool(pool, request.vmId);
  requestRemoval(
    ws,
    pool,
    request.vmId,
    request.taskId,
    request.forced ? { by: 'person', force: true } : undefined,
  );
  keepPoolGoing(ws, pool.poolId, ids);
}

export function editPool(
  ws: Workspace,
  request: { poolId: string } & Partial<
    Pick<PoolSettings, 'name' | 'maxMachines' | 'spareMachines'>
  >,
  ids: IdSource,
): void {
  ws.decidePool({ type: 'EditPool', data: request });
  keepPoolGoing(ws, request.poolId, ids);
}

export function deletePool(ws: Workspace, request: { poolId: string }, ids: IdSource): void {
  ws.decidePool({ type: 'DeletePool', data: request });
  keepPoolGoing(ws, request.poolId, ids);
}

export interface RefreshOutcome {
  kind: 'refresh';
  disks: DiskPlacement[];
  exports: LiveExport[];
  memoryImage: LiveExport;
}

/** The desktop is back at its fork state, running again. */
export function completeRefresh(
  ws: Workspace,
  job: RefreshJob,
  taskId: string,
  outcome: RefreshOutcome,
  ids: IdSource,
): void {
  const { disks, exports, memoryImage } = outcome;
  ws.decideVm({
    type: 'RecordRefreshed',
    data: { vmId: job.vmId, taskId, disks, exports, memoryImage },
  });
  ws.decidePool({ type: 'RecordMachineRefreshed', data: { poolId: job.poolId, vmId: job.vmId } });
  keepPoolGoing(ws, job.poolId, ids);
}

export function abandonRefresh(ws: Workspace, job: RefreshJob, ending: JobEnding): void {
  const { code, message } = ending;
  recordTaskFailed(ws, job.vmId, ending);
  ws.decidePool({
    type: 'RecordMachineRefreshFailed',
    data: { poolId: job.poolId, vmId: job.vmId, code, message },
  });
}

/** A machine the pool forked runs: the pool counts it ready and goes on. */
export function poolMachineForked(ws: Workspace, job: ForkJob & { poolId: string }, ids: IdSource) {
  ws.decidePool({ type: 'RecordMachineReady', data: { poolId: job.poolId, vmId: job.targetVmId } });
  keepPoolGoing(ws, job.poolId, ids);
}

/** A machine could not be forked: the pool lets it go without forking again at once. */
export function poolMachineFailed(
  ws: Workspace,
  job: ForkJob & { poolId: string },
  ending: JobEnding,
  ids: IdSource,
) {
  const { code, message } = ending;
  ws.decidePool({
    type: 'RecordMachineFailed',
    data: { poolId: job.poolId, vmId: job.targetVmId, code, message },
  });
  keepPoolGoing(ws, job.poolId, ids, { replenish: false });
}

/** One of the pool's VMs is gone: the pool goes on (its next removal, a new spare). */
export function poolVmRemoved(ws: Workspace, job: DeleteVmJob & { poolId: string }, ids: IdSource) {
  ws.decidePool({ type: 'RecordVmRemoved', data: { poolId: job.poolId, vmId: job.vmId } });
  keepPoolGoing(ws, job.poolId, ids);
}

export function poolVmRemovalFailed(
  ws: Workspace,
  job: DeleteVmJob & { poolId: string },
  ending: JobEnding,
) {
  const { code, message } = ending;
  ws.decidePool({
    type: 'RecordRemovalFailed',
    data: { poolId: job.poolId, vmId: job.vmId, code, message },
  });
}
