import { THIN_LAYER_OVERHEAD_BYTES } from '../datastore/datastore';
import type { SpaceClaim } from '../datastore/datastore.events';
import type { Placement, PoolImageJob } from '../jobs/jobs';
import type { PoolImage, PoolPushSchedule, PoolRollout, PoolSettings } from '../pool/pool.events';
import {
  DomainError,
  type ErrorReason,
  IllegalStateError,
  NotFoundError,
  refuseIfAny,
} from '../shared/errors';
import { type ExistingVm, placementReasons } from '../vm/vm';
import type { DiskPlacement, LiveExport, VmOrigin, VmRole } from '../vm/vm.events';
import { keepPoolGoing } from './pool-desktops';
import {
  type IdSource,
  type JobEnding,
  existingPool,
  failureOf,
  physicalNeed,
  present,
  queue,
  release,
  releaseReason,
} from './steps';
import type { Workspace } from './workspace';

/**
 * A pool's image, the Horizon chain: an internal template (linked clone of the golden snapshot),
 * a replica on each of the pool's datastores (thin full copy, frozen), and a running parent for
 * each host and datastore (linked clone of its replica), which the pool's machines fork from.
 * Built when the pool is created, pushed again (now, or as scheduled), rolled back.
 */

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

export interface PoolImageOutcome {
  kind: 'pool-image';
  template: DiskPlacement[];
  /** By replica, in the job's order. */
  replicas: DiskPlacement[][];
  /** By parent, in the job's order: each runs on the worker. */
  parents: { disks: DiskPlacement[]; exports: LiveExport[]; memoryImage: LiveExport }[];
  workerId: string;
}

/** The chain is built and its parents run: the pool publishes the image and forks from it. */
export function completePoolImage(
  ws: Workspace,
  job: PoolImageJob,
  taskId: string,
  outcome: PoolImageOutcome,
  ids: IdSource,
): void {
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
}

/**
 * The chain could not be built (the worker undid what it began): its VMs fail, the golden image
 * is free again, the space returns, and the pool keeps the image it had without forking again at
 * once (that could loop).
 */
export function abandonPoolImage(
  ws: Workspace,
  job: PoolImageJob,
  ending: JobEnding,
  ids: IdSource,
): void {
  const { taskId, code, message } = ending;
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
    ws.decideVm({ type: 'RecordProvisioningFailed', data: { vmId, ...failureOf(ending) } });
  }
  ws.decideVm({
    type: 'FinishClone',
    data: {
      vmId: job.goldenVmId,
      taskId,
      targetVmId: job.templateVmId,
      outcome: ending.cancelled ? 'cancelled' : 'failed',
    },
  });
  const byDatastore = new Map<string, string[]>();
  for (const { datastoreId, diskIds } of members) {
    byDatastore.set(datastoreId, [...(byDatastore.get(datastoreId) ?? []), ...diskIds]);
  }
  for (const [datastoreId, diskIds] of byDatastore)
    release(ws, datastoreId, diskIds, releaseReason(ending));
  ws.decidePool({ type: 'RecordImageFailed', data: { poolId: job.poolId, taskId, code, message } });
  keepPoolGoing(ws, job.poolId, ids, { replenish: false });
}
