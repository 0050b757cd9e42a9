import { THIN_LAYER_OVERHEAD_BYTES } from '../datastore/datastore';
import type { SpaceClaim } from '../datastore/datastore.events';
import {
  type ForkJob,
  type Job,
  type Placement,
  type PoolImageJob,
  type RefreshJob,
  isVmJob,
  jobDisks,
} from '../jobs/jobs';
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
import type { PoolImage, PoolPushSchedule, PoolRollout, PoolSettings } from '../pool/pool.events';
import {
  DomainError,
  type ErrorReason,
  IllegalStateError,
  NotFoundError,
  refuseIfAny,
} from '../shared/errors';
import { type TaskState } from '../task/task';
import { blockMapsMeasured } from '../vm/block-map-events';
import { type ExistingVm, type Requester, placementReasons } from '../vm/vm';
import type { DiskPlacement, LiveExport, VmOrigin, VmRole } from '../vm/vm.events';
import { type Measurements, deleteVmJob, physicalNeed, standsOn } from './operations';
import type { StreamKey, Workspace } from './workspace';

/**
 * The Horizon chain as decisions across streams: a pool's image (internal template → replica →
 * running parent), instant clones forked from the parent, desktops handed to users, and a pool's
 * teardown. Each step is a sequence of commands on the streams it touches, decided in one
 * Workspace and appended in one transaction.
 */

/** Where new ids come from: the caller's generator (random in production, fixed in tests). */
export interface IdSource {
  id(): string;
  macAddress(): string;
}

function present(ws: Workspace, vmId: string): ExistingVm {
  const state = ws.vm(vmId);
  if (state.status !== 'present')
    throw new NotFoundError('VM.NOT_FOUND', `VM ${vmId} does not exist`);
  return state;
}

function existingPool(ws: Workspace, poolId: string): ExistingPool {
  const state = ws.pool(poolId);
  if (state.status !== 'present')
    throw new NotFoundError('POOL.NOT_FOUND', `Pool ${poolId} does not exist`);
  return state;
}

function queue(
  ws: Workspace,
  taskId: string,
  operation: string,
  target: { type: 'vm' | 'pool'; id: string },
  job: Job,
  placement: Placement,
) {
  ws.decideTask({ type: 'QueueTask', data: { taskId, operation, target, job, placement } });
}

/** A running VM's disks and memory live in one worker's storage daemon: that worker does its jobs. */
function workerOf(vm: ExistingVm): Placement {
  if (!vm.live) throw new IllegalStateError('VM.NOT_LIVE', `${vm.name} is not held by any worker`);
  return { kind: 'worker', workerId: vm.live.workerId };
}

function existingTask(ws: Workspace, taskId: string): Exclude<TaskState, { status: 'absent' }> {
  const task = ws.task(taskId);
  if (task.status === 'absent')
    throw new NotFoundError('TASK.NOT_FOUND', `Task ${taskId} does not exist`);
  return task;
}

function release(ws: Workspace, datastoreId: string, diskIds: string[], reason: string) {
  if (ws.datastore(datastoreId).status !== 'registered' || diskIds.length === 0) return;
  ws.decideDatastore({ type: 'ReleaseSpace', data: { datastoreId, diskIds, reason } });
}

// ------------------------------------------------------------------------------------------------
// Fork

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

// ------------------------------------------------------------------------------------------------
// Pools: create, keep going (spares, teardown), entitle, log off, edit, delete

/** Where and from what a pool's image (internal template, replicas, parents) is built. */
export interface ImageRequest {
  taskId: string;
  goldenVmId: string;
  snapshotId: string;
  /** The pool's hosts: a parent runs on each, for each of its datastores. */
  hostIds: string[];
  /** The pool's datastores: a replica on each. */
  datastoreIds: string[];
  /** Workers that serve the golden image's datastore and every datastore of the pool. */
  placement: Placement;
}

export interface CreatePoolRequest extends ImageRequest {
  poolId: string;
  settings: PoolSettings;
}

const GOLDEN_ROLES: readonly VmRole[] = ['vm', 'golden-image'];

type Claims = { datastoreId: string; claims: SpaceClaim[] }[];

/** Every reason the chain cannot be built where asked: the golden image, the host, the space. */
function chainReasons(
  ws: Workspace,
  request: ImageRequest,
  golden: ExistingVm,
  need: Claims,
): ErrorReason[] {
  const reasons: ErrorReason[] = [];
  if (!GOLDEN_ROLES.includes(golden.role)) {
    reasons.push({
      code: 'POOL.GOLDEN_IMAGE_ROLE',
      detail: `${golden.name} is a ${golden.role}: a golden image is a plain VM with a snapshot`,
      pointer: '/goldenVmId',
    });
  }
  if (golden.lifecycle !== 'ready') {
    reasons.push({
      code: 'POOL.GOLDEN_IMAGE_NOT_READY',
      detail: `${golden.name} is ${golden.lifecycle}`,
      pointer: '/goldenVmId',
    });
  }
  if (!golden.snapshots.some((s) => s.snapshotId === request.snapshotId)) {
    reasons.push({
      code: 'SNAPSHOT.NOT_FOUND',
      detail: `${golden.name} has no snapshot ${request.snapshotId}`,
      pointer: '/snapshotId',
    });
  }
  if (request.hostIds.length === 0 || request.datastoreIds.length === 0) {
    reasons.push({
      code: 'POOL.NO_SITES',
      detail: 'A pool needs at least one host and one datastore',
      pointer: request.hostIds.length === 0 ? '/hostIds' : '/datastoreIds',
    });
  }
  // Each host and each datastore is said once, however many sites it is part of.
  const said = new Set<string>();
  for (const hostId of request.hostIds) {
    for (const datastoreId of request.datastoreIds) {
      for (const reason of placementReasons(
        { hostId, datastoreId, hardware: golden.hardware },
        { host: ws.host(hostId), datastore: ws.datastore(datastoreId) },
      )) {
        const key = `${reason.code}|${reason.detail}`;
        if (!said.has(key)) reasons.push(reason);
        said.add(key);
      }
    }
  }
  // The claims are the real reservations when nothing else is wrong.
  for (const { datastoreId, claims } of need) {
    if (ws.datastore(datastoreId).status !== 'registered') continue;
    try {
      ws.decideDatastore({
        type: 'ReserveSpace',
        data: { datastoreId, taskId: request.taskId, claims },
      });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      reasons.push(
        ...(error.reasons.length > 0
          ? error.reasons
          : [{ code: error.code, detail: error.message }]),
      );
    }
  }
  return reasons;
}

/** A pool image's ids and the space its members take, decided before anything is built. */
interface ImagePlan {
  golden: ExistingVm;
  image: PoolImage;
  job: PoolImageJob;
  need: Claims;
}

function planImage(ws: Workspace, poolId: string, request: ImageRequest, ids: IdSource): ImagePlan {
  const golden = present(ws, request.goldenVmId);
  const snapshot = golden.snapshots.find((s) => s.snapshotId === request.snapshotId);
  const diskIds = () => golden.disks.map(() => ids.id());
  const replicas = [...new Set(request.datastoreIds)].map((datastoreId) => ({
    replicaVmId: ids.id(),
    datastoreId,
    diskIds: diskIds(),
  }));
  const sites = [...new Set(request.hostIds)].flatMap((hostId) =>
    replicas.map((replica) => ({
      hostId,
      parent: {
        parentVmId: ids.id(),
        replicaVmId: replica.replicaVmId,
        datastoreId: replica.datastoreId,
        diskIds: diskIds(),
        memory: { imageId: ids.id(), sizeBytes: golden.hardware.memoryBytes },
      },
    })),
  );
  const job: PoolImageJob = {
    kind: 'pool-image',
    poolId,
    goldenVmId: golden.vmId,
    templateVmId: ids.id(),
    sourceDatastoreId: golden.datastoreId,
    disks: golden.disks.map((disk) => ({
      // A missing snapshot is refused with its reason before the job is queued.
      snapshotLayerId: snapshot?.layers.find((l) => l.diskId === disk.diskId)?.layerId ?? '-',
      templateDiskId: ids.id(),
      capacityBytes: disk.capacityBytes,
    })),
    replicas,
    parents: sites.map((site) => site.parent),
  };
  // A flattened copy holds what the whole chain holds: as measured, else (never measured) all of it.
  const dataOf = (disk: ExistingVm['disks'][number]) =>
    golden.measuredBytes?.[disk.diskId] ?? disk.capacityBytes;
  const byDatastore = new Map<string, SpaceClaim[]>();
  /** A replica is a full copy (thin: what the golden image holds); the others are empty deltas. */
  const claim = (datastoreId: string, memberDiskIds: string[], fullCopy: boolean) =>
    byDatastore.set(datastoreId, [
      ...(byDatastore.get(datastoreId) ?? []),
      ...golden.disks.map((disk, index) => ({
        diskId: memberDiskIds[index],
        physicalBytes: fullCopy
          ? physicalNeed('thin', disk.capacityBytes, dataOf(disk))
          : THIN_LAYER_OVERHEAD_BYTES,
        provisionedBytes: disk.capacityBytes,
      })),
    ]);
  claim(
    golden.datastoreId,
    job.disks.map((d) => d.templateDiskId),
    false,
  );
  for (const replica of replicas) claim(replica.datastoreId, replica.diskIds, true);
  for (const { parent } of sites) claim(parent.datastoreId, parent.diskIds, false);
  const image: PoolImage = {
    goldenVmId: golden.vmId,
    snapshotId: request.snapshotId,
    templateVmId: job.templateVmId,
    replicas: replicas.map(({ datastoreId, replicaVmId }) => ({ datastoreId, replicaVmId })),
    parents: sites.map(({ hostId, parent }) => ({
      hostId,
      datastoreId: parent.datastoreId,
      parentVmId: parent.parentVmId,
    })),
    taskId: request.taskId,
  };
  const need = [...byDatastore].map(([datastoreId, claims]) => ({ datastoreId, claims }));
  return { golden, image, job, need };
}

/**
 * Builds a pool's image, decided on the pool already: a linked clone of the golden snapshot
 * (internal template), a thin full copy of it on each of the pool's datastores (replicas, frozen),
 * and for each host and datastore a linked clone of that datastore's replica, powered on (parents).
 * One task on one worker, whose daemon then holds the parents. Refused with every reason when the
 * chain cannot stand where asked.
 */
function buildImage(
  ws: Workspace,
  pool: { poolId: string; name: string },
  request: ImageRequest,
  plan: ImagePlan,
  operation: 'CreatePool' | 'PushImage',
  ids: IdSource,
): void {
  const { golden, image, job } = plan;
  const { taskId } = request;
  refuseIfAny(
    'POOL.REFUSED',
    `Pool ${pool.name} cannot be built from ${golden.name} where asked`,
    chainReasons(ws, request, golden, plan.need),
  );

  ws.decideVm({
    type: 'StartClone',
    data: {
      vmId: golden.vmId,
      taskId,
      targetVmId: image.templateVmId,
      linked: true,
      snapshotId: request.snapshotId,
      format: 'same',
    },
  });
  const member = (
    vmId: string,
    role: VmRole,
    name: string,
    diskIds: string[],
    where: { hostId: string; datastoreId: string },
    origin: Exclude<VmOrigin, { kind: 'new' }>,
  ) => {
    ws.create('vm', vmId);
    ws.decideVm(
      {
        type: 'CreateClone',
        data: {
          vmId,
          name: `${pool.name.slice(0, 70)}-${name}`,
          folder: `/pools/${pool.name}`,
          role,
          ...where,
          hardware: golden.hardware,
          disks: golden.disks.map((disk, index) => ({
            ...disk,
            diskId: diskIds[index],
            format: 'thin',
          })),
          nics: golden.nics.map((nic) => ({ ...nic, macAddress: ids.macAddress() })),
          biosUuid: ids.id(),
          provisioningTaskId: taskId,
          origin,
          poolId: pool.poolId,
        },
      },
      { host: ws.host(where.hostId), datastore: ws.datastore(where.datastoreId) },
    );
  };
  const linkedTo = (
    sourceVmId: string,
    snapshotId: string | null,
  ): Exclude<VmOrigin, { kind: 'new' }> => ({
    kind: 'clone',
    sourceVmId,
    snapshotId,
    linked: true,
    format: 'same',
  });
  // One of each keeps its plain name; more are numbered.
  const numbered = (which: string, index: number, count: number) =>
    count === 1 ? which : `${which}-${index + 1}`;
  member(
    image.templateVmId,
    'internal-template',
    'template',
    job.disks.map((d) => d.templateDiskId),
    { hostId: golden.hostId, datastoreId: golden.datastoreId },
    linkedTo(golden.vmId, request.snapshotId),
  );
  // A replica runs nowhere; it is registered with the first host, as the parents of its datastore run on theirs.
  for (const [index, replica] of job.replicas.entries()) {
    member(
      replica.replicaVmId,
      'replica',
      numbered('replica', index, job.replicas.length),
      replica.diskIds,
      { hostId: image.parents[0].hostId, datastoreId: replica.datastoreId },
      {
        kind: 'clone',
        sourceVmId: image.templateVmId,
        snapshotId: null,
        linked: false,
        format: 'thin',
      },
    );
  }
  for (const [index, parent] of job.parents.entries()) {
    member(
      parent.parentVmId,
      'parent',
      numbered('parent', index, job.parents.length),
      parent.diskIds,
      { hostId: image.parents[index].hostId, datastoreId: parent.datastoreId },
      linkedTo(parent.replicaVmId, null),
    );
  }
  queue(ws, taskId, operation, { type: 'pool', id: pool.poolId }, job, request.placement);
}

/** Creates a pool and starts building its image. */
export function createPool(ws: Workspace, request: CreatePoolRequest, ids: IdSource): void {
  const { poolId, settings } = request;
  ws.create('pool', poolId);
  const plan = planImage(ws, poolId, request, ids);
  ws.decidePool({ type: 'CreatePool', data: { poolId, settings, image: plan.image } });
  buildImage(ws, { poolId, name: settings.name }, request, plan, 'CreatePool', ids);
}

export interface PushImageRequest {
  poolId: string;
  taskId: string;
  goldenVmId: string;
  snapshotId: string;
  rollout: PoolRollout;
  placement: Placement;
  /** The scheduler starts the push scheduled for now. */
  scheduled?: boolean;
}

/**
 * Push image: builds a new chain from a golden snapshot where the pool stands; once it is
 * published the pool forks from it and replaces the machines of its earlier image (keepPoolGoing).
 * Cancelling the task leaves the pool as it was.
 */
export function pushImage(ws: Workspace, request: PushImageRequest, ids: IdSource): void {
  const pool = existingPool(ws, request.poolId);
  const imageRequest: ImageRequest = { ...request, ...poolSites(pool.image) };
  const plan = planImage(ws, pool.poolId, imageRequest, ids);
  ws.decidePool({
    type: 'PushImage',
    data: {
      poolId: pool.poolId,
      image: plan.image,
      rollout: request.rollout,
      scheduled: request.scheduled,
    },
  });
  buildImage(
    ws,
    { poolId: pool.poolId, name: pool.settings.name },
    imageRequest,
    plan,
    'PushImage',
    ids,
  );
}

/** The hosts and datastores an image stands on. */
export function poolSites(image: PoolImage): { hostIds: string[]; datastoreIds: string[] } {
  return {
    hostIds: [...new Set(image.parents.map((p) => p.hostId))],
    datastoreIds: image.replicas.map((r) => r.datastoreId),
  };
}

/** Schedules a push image for later; what is wrong with its golden snapshot is said now. */
export function schedulePush(ws: Workspace, schedule: PoolPushSchedule): void {
  const golden = present(ws, schedule.goldenVmId);
  if (!golden.snapshots.some((s) => s.snapshotId === schedule.snapshotId))
    throw new NotFoundError(
      'SNAPSHOT.NOT_FOUND',
      `${golden.name} has no snapshot ${schedule.snapshotId}`,
    );
  ws.decidePool({ type: 'SchedulePush', data: schedule });
}

/**
 * The scheduler's turn: starts the pool's scheduled push when its time has come. When it cannot
 * start (its golden snapshot is gone, no space, no worker), the schedule is dropped with the
 * reason, rather than tried again every turn. Returns whether a push started.
 */
export function startScheduledPush(
  ws: Workspace,
  request: { poolId: string; taskId: string; now: string; placement: Placement | Error },
  ids: IdSource,
): boolean {
  const pool = ws.pool(request.poolId);
  if (pool.status !== 'present' || !pool.scheduledPush) return false;
  const { goldenVmId, snapshotId, rollout, startAt } = pool.scheduledPush;
  if (Date.parse(startAt) > Date.parse(request.now)) return false;
  try {
    if (request.placement instanceof Error) throw request.placement;
    const push = { poolId: request.poolId, taskId: request.taskId, goldenVmId, snapshotId };
    ws.attempt(() =>
      pushImage(
        ws,
        { ...push, rollout, placement: request.placement as Placement, scheduled: true },
        ids,
      ),
    );
    return true;
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    const reasons = error.reasons.map((r) => r.detail).join('; ');
    ws.decidePool({
      type: 'UnschedulePush',
      data: {
        poolId: request.poolId,
        reason: `could not start at ${startAt}: ${error.message}${reasons ? ` (${reasons})` : ''}`,
        code: error.code,
      },
    });
    return false;
  }
}

/** Rollback: pushes the image the pool had before its last push (its golden snapshot) again. */
export function rollbackImage(
  ws: Workspace,
  request: Omit<PushImageRequest, 'goldenVmId' | 'snapshotId'>,
  ids: IdSource,
): void {
  const pool = existingPool(ws, request.poolId);
  if (!pool.previousImage)
    throw new IllegalStateError(
      'POOL.NO_PREVIOUS_IMAGE',
      `Pool ${pool.settings.name} has had one image only: there is nothing to roll back to`,
    );
  const { goldenVmId, snapshotId } = pool.previousImage;
  pushImage(ws, { ...request, goldenVmId, snapshotId }, ids);
}

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
function keepPoolGoing(
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
    abandonChainJob(
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

// ------------------------------------------------------------------------------------------------
// Outcomes of the chain's jobs

export type ChainOutcome =
  | {
      kind: 'fork';
      disks: DiskPlacement[];
      workerId: string;
      exports: LiveExport[];
      memoryImage: LiveExport;
      /** The parent's exports when this fork froze it (its first); null when they did not change. */
      parentExports: LiveExport[] | null;
    }
  | {
      kind: 'pool-image';
      template: DiskPlacement[];
      /** By replica, in the job's order. */
      replicas: DiskPlacement[][];
      /** By parent, in the job's order: each runs on the worker. */
      parents: { disks: DiskPlacement[]; exports: LiveExport[]; memoryImage: LiveExport }[];
      workerId: string;
    }
  | { kind: 'refresh'; disks: DiskPlacement[]; exports: LiveExport[]; memoryImage: LiveExport }
  | { kind: 'delete-vm' };

/** The jobs whose outcome is decided here: the chain's, and deleting a pool's VM. */
export function isChainJob(job: Job): boolean {
  return (
    job.kind === 'fork' ||
    job.kind === 'pool-image' ||
    job.kind === 'refresh' ||
    (job.kind === 'delete-vm' && job.poolId !== null)
  );
}

/** The streams a chain job's outcome surely touches (a decision reads any other it needs). */
export function chainJobStreams(taskId: string, job: Job): StreamKey[] {
  const vms = (...ids: (string | null)[]) =>
    ids.filter((id): id is string => id !== null).map((id) => ({ kind: 'vm' as const, id }));
  const pool = (poolId: string | null) => (poolId ? [{ kind: 'pool' as const, id: poolId }] : []);
  const datastores = (...ids: string[]) =>
    [...new Set(ids)].map((id) => ({ kind: 'datastore' as const, id }));
  const task = { kind: 'task' as const, id: taskId };
  switch (job.kind) {
    case 'fork':
      return [
        task,
        ...vms(job.targetVmId, job.parentVmId, job.replicaVmId),
        ...datastores(job.datastoreId),
        ...pool(job.poolId),
      ];
    case 'pool-image':
      return [
        task,
        ...vms(
          job.goldenVmId,
          job.templateVmId,
          ...job.replicas.map((r) => r.replicaVmId),
          ...job.parents.map((p) => p.parentVmId),
        ),
        ...datastores(job.sourceDatastoreId, ...job.replicas.map((r) => r.datastoreId)),
        ...pool(job.poolId),
      ];
    case 'refresh':
      return [task, ...vms(job.vmId), ...pool(job.poolId)];
    case 'delete-vm':
      return [
        task,
        ...vms(job.vmId, job.linkedTo),
        ...datastores(job.datastoreId),
        ...pool(job.poolId),
      ];
    case 'restore-quarantined':
      return [task, ...datastores(job.datastoreId)];
    default:
      return [task, ...vms(jobDisks(job).vmId), ...datastores(jobDisks(job).datastoreId)];
  }
}

/** A worker finished its attempt of a chain job: the effect on every stream it touched. */
export function completeChainJob(
  ws: Workspace,
  ending: { taskId: string; attempt: number; outcome: ChainOutcome; measured?: Measurements },
  ids: IdSource,
): void {
  chainOutcome(ws, ending, ids);
  const { measured } = ending;
  if (!measured) return;
  const { job } = existingTask(ws, ending.taskId);
  if (!isVmJob(job)) return;
  const { vmId, datastoreId } = jobDisks(job);
  if (measured.blockMaps.length > 0 && ws.vm(vmId).status === 'present') {
    ws.record('vm', vmId, blockMapsMeasured(vmId, ending.taskId, measured.blockMaps));
  }
  if (measured.usage && ws.datastore(datastoreId).status === 'registered') {
    ws.record('datastore', datastoreId, [
      { type: 'DatastoreUsageMeasured', data: { datastoreId, ...measured.usage } },
    ]);
  }
}

function chainOutcome(
  ws: Workspace,
  ending: { taskId: string; attempt: number; outcome: ChainOutcome },
  ids: IdSource,
): void {
  const { taskId, attempt, outcome } = ending;
  const { job } = existingTask(ws, taskId);
  ws.decideTask({ type: 'SucceedTask', data: { taskId, attempt } });
  if (job.kind === 'fork' && outcome.kind === 'fork') {
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
    if (job.poolId) {
      ws.decidePool({
        type: 'RecordMachineReady',
        data: { poolId: job.poolId, vmId: job.targetVmId },
      });
      keepPoolGoing(ws, job.poolId, ids);
    }
    return;
  }
  if (job.kind === 'pool-image' && outcome.kind === 'pool-image') {
    const cloned = (vmId: string, disks: DiskPlacement[]) =>
      ws.decideVm({ type: 'RecordCloned', data: { vmId, taskId, disks } });
    cloned(job.templateVmId, outcome.template);
    ws.decideVm({
      type: 'FinishClone',
      data: { vmId: job.goldenVmId, taskId, targetVmId: job.templateVmId, outcome: 'succeeded' },
    });
    job.replicas.forEach((replica, index) => cloned(replica.replicaVmId, outcome.replicas[index]));
    for (const [index, parent] of job.parents.entries()) {
      const { disks, exports, memoryImage } = outcome.parents[index];
      cloned(parent.parentVmId, disks);
      // The job powered the parent on: said as the power operation it was.
      ws.decideVm({
        type: 'RequestPowerChange',
        data: {
          vmId: parent.parentVmId,
          taskId,
          to: 'poweredOn',
          requester: { by: 'pool', poolId: job.poolId },
        },
      });
      ws.decideVm({
        type: 'RecordPoweredOn',
        data: { vmId: parent.parentVmId, taskId, workerId: outcome.workerId, exports, memoryImage },
      });
      ws.decideVm({
        type: 'AttachLinkedClone',
        data: { vmId: parent.replicaVmId, dependantVmId: parent.parentVmId },
      });
    }
    ws.decidePool({ type: 'RecordImagePublished', data: { poolId: job.poolId, taskId } });
    keepPoolGoing(ws, job.poolId, ids);
    return;
  }
  if (job.kind === 'refresh' && outcome.kind === 'refresh') {
    const { disks, exports, memoryImage } = outcome;
    ws.decideVm({
      type: 'RecordRefreshed',
      data: { vmId: job.vmId, taskId, disks, exports, memoryImage },
    });
    ws.decidePool({ type: 'RecordMachineRefreshed', data: { poolId: job.poolId, vmId: job.vmId } });
    keepPoolGoing(ws, job.poolId, ids);
    return;
  }
  if (job.kind === 'delete-vm' && job.poolId && outcome.kind === 'delete-vm') {
    ws.decideVm({ type: 'RecordDeleted', data: { vmId: job.vmId, taskId } });
    release(ws, job.datastoreId, job.diskIds, 'the VM was deleted');
    if (job.linkedTo && ws.vm(job.linkedTo).status === 'present') {
      ws.decideVm({
        type: 'ReleaseLinkedClone',
        data: { vmId: job.linkedTo, dependantVmId: job.vmId },
      });
    }
    ws.decidePool({ type: 'RecordVmRemoved', data: { poolId: job.poolId, vmId: job.vmId } });
    keepPoolGoing(ws, job.poolId, ids);
    return;
  }
  throw new Error(`Outcome ${outcome.kind} does not fit job ${job.kind}`);
}

/**
 * A chain job ended without its effect (failed or cancelled); the worker undid what it began.
 * The streams let go; a pool does not fork again at once after a failure (that could loop), but a
 * deleting pool goes on with its teardown.
 */
export function abandonChainJob(
  ws: Workspace,
  ending: { taskId: string; attempt: number; cancelled: boolean; code: string; message: string },
  ids: IdSource,
): void {
  const { taskId, attempt, cancelled, code, message } = ending;
  const { job } = existingTask(ws, taskId);
  ws.decideTask(
    cancelled
      ? { type: 'ConfirmTaskCancelled', data: { taskId, attempt } }
      : { type: 'FailTask', data: { taskId, attempt, code, message } },
  );
  const failure = { taskId, code, message };
  const reason = `task ${taskId} ${cancelled ? 'was cancelled' : 'failed'}`;
  switch (job.kind) {
    case 'fork': {
      ws.decideVm({ type: 'RecordProvisioningFailed', data: { vmId: job.targetVmId, ...failure } });
      finishFork(ws, job, taskId, cancelled ? 'cancelled' : 'failed', null);
      release(
        ws,
        job.datastoreId,
        job.disks.map((d) => d.diskId),
        reason,
      );
      if (job.poolId) {
        ws.decidePool({
          type: 'RecordMachineFailed',
          data: { poolId: job.poolId, vmId: job.targetVmId, code, message },
        });
        keepPoolGoing(ws, job.poolId, ids, { replenish: false });
      }
      return;
    }
    case 'pool-image': {
      const members = [
        {
          vmId: job.templateVmId,
          datastoreId: job.sourceDatastoreId,
          diskIds: job.disks.map((d) => d.templateDiskId),
        },
        ...job.replicas.map((r) => ({ vmId: r.replicaVmId, ...r })),
        ...job.parents.map((p) => ({ vmId: p.parentVmId, ...p })),
      ];
      for (const { vmId } of members) {
        ws.decideVm({ type: 'RecordProvisioningFailed', data: { vmId, ...failure } });
      }
      ws.decideVm({
        type: 'FinishClone',
        data: {
          vmId: job.goldenVmId,
          taskId,
          targetVmId: job.templateVmId,
          outcome: cancelled ? 'cancelled' : 'failed',
        },
      });
      const byDatastore = new Map<string, string[]>();
      for (const { datastoreId, diskIds } of members) {
        byDatastore.set(datastoreId, [...(byDatastore.get(datastoreId) ?? []), ...diskIds]);
      }
      for (const [datastoreId, diskIds] of byDatastore) release(ws, datastoreId, diskIds, reason);
      ws.decidePool({
        type: 'RecordImageFailed',
        data: { poolId: job.poolId, taskId, code, message },
      });
      keepPoolGoing(ws, job.poolId, ids, { replenish: false });
      return;
    }
    case 'refresh':
      ws.decideVm({ type: 'RecordTaskFailed', data: { vmId: job.vmId, ...failure } });
      ws.decidePool({
        type: 'RecordMachineRefreshFailed',
        data: { poolId: job.poolId, vmId: job.vmId, code, message },
      });
      return;
    case 'delete-vm':
      ws.decideVm({ type: 'RecordTaskFailed', data: { vmId: job.vmId, ...failure } });
      if (job.poolId) {
        ws.decidePool({
          type: 'RecordRemovalFailed',
          data: { poolId: job.poolId, vmId: job.vmId, code, message },
        });
      }
      return;
    default:
      throw new Error(`Job ${job.kind} is not one of the chain's`);
  }
}
