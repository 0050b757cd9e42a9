import { streamIdOf } from '../shared/streams';
import { type Command, type Decider, assertNever } from '../shared/decider';
import {
  type ErrorReason,
  IllegalStateError,
  NotFoundError,
  ValidationError,
} from '../shared/errors';
import type {
  PoolCreated,
  PoolEvent,
  PoolImage,
  PoolPushSchedule,
  PoolRollout,
  PoolSettings,
} from './pool.events';

export interface PoolMachine {
  vmId: string;
  name: string;
  number: number;
  /** provisioning: being forked; ready: runs; refreshing: going back to the replica's state; removing: being deleted; lost: its host is gone, to be recreated. */
  status: 'provisioning' | 'ready' | 'refreshing' | 'removing' | 'lost';
  userId: string | null;
  /** The image (its build task) the machine was forked from. */
  imageTaskId: string;
  /** The parent it was forked from: its host and datastore. */
  parentVmId: string;
}

export type InternalRole = 'parent' | 'replica' | 'internal-template';

export interface ExistingPool {
  poolId: string;
  settings: PoolSettings;
  /** The image machines are forked from now. */
  image: PoolImage;
  imageStatus: 'building' | 'published' | 'failed';
  /** A pushed image being built, and how machines will move to it. */
  push: { image: PoolImage; rollout: PoolRollout } | null;
  /** A push image waiting for its time. */
  scheduledPush: PoolPushSchedule | null;
  /** How machines of earlier images move to the current one (the last push's choice). */
  rollout: PoolRollout;
  /** The image before the last push: what a rollback pushes again. */
  previousImage: PoolImage | null;
  machines: PoolMachine[];
  /** Every image's chain VMs still standing (by the image's task), and whether the pool is deleting them. */
  internalVms: { vmId: string; role: InternalRole; imageTaskId: string; removing: boolean }[];
  lifecycle: 'active' | 'deleting';
}

export type PoolState =
  | { status: 'absent' }
  | ({ status: 'present' } & ExistingPool)
  | { status: 'deleted'; poolId: string };

export const poolStreamId = (poolId: string) => streamIdOf({ kind: 'pool', id: poolId });

type PoolRef = { poolId: string };
export type CreatePool = Command<'CreatePool', PoolCreated['data']>;
export type RecordImagePublished = Command<'RecordImagePublished', PoolRef & { taskId: string }>;
export type RecordImageFailed = Command<
  'RecordImageFailed',
  PoolRef & { taskId: string; code: string; message: string }
>;
export type RequestMachine = Command<
  'RequestMachine',
  PoolRef & {
    vmId: string;
    taskId: string;
    userId: string | null;
    /** One of the current image's parents: where it runs and stands. */
    parentVmId: string;
    /** A desktop being removed whose name (number) the new machine takes: a dedicated user's, re-forked from a new image. */
    replacing?: string;
  }
>;
export type PushImage = Command<
  'PushImage',
  PoolRef & {
    image: PoolImage;
    rollout: PoolRollout;
    /** Started by the scheduler for the push scheduled now (others wait for it, or cancel it). */
    scheduled?: boolean;
  }
>;
export type SchedulePush = Command<'SchedulePush', PoolPushSchedule>;
export type RecordMachinesLost = Command<
  'RecordMachinesLost',
  PoolRef & { vmIds: string[]; workerIds: string[] }
>;
export type UnschedulePush = Command<
  'UnschedulePush',
  PoolRef & { reason: string; code: string | null }
>;
export type RecordMachineReady = Command<'RecordMachineReady', PoolRef & { vmId: string }>;
export type RecordMachineFailed = Command<
  'RecordMachineFailed',
  PoolRef & { vmId: string; code: string; message: string }
>;
export type AssignDesktop = Command<'AssignDesktop', PoolRef & { vmId: string; userId: string }>;
export type LogOff = Command<'LogOff', PoolRef & { vmId: string }>;
export type RequestMachineRefresh = Command<
  'RequestMachineRefresh',
  PoolRef & { vmId: string; taskId: string }
>;
export type RecordMachineRefreshed = Command<'RecordMachineRefreshed', PoolRef & { vmId: string }>;
export type RequestVmRemoval = Command<
  'RequestVmRemoval',
  PoolRef & { vmId: string; taskId: string }
>;
export type RecordVmRemoved = Command<'RecordVmRemoved', PoolRef & { vmId: string }>;
export type EditPool = Command<
  'EditPool',
  PoolRef & Partial<Pick<PoolSettings, 'name' | 'maxMachines' | 'spareMachines'>>
>;
export type DeletePool = Command<'DeletePool', PoolRef>;
export type RecordMachineRefreshFailed = Command<
  'RecordMachineRefreshFailed',
  PoolRef & { vmId: string; code: string; message: string }
>;
export type RecordRemovalFailed = Command<
  'RecordRemovalFailed',
  PoolRef & { vmId: string; code: string; message: string }
>;

export type PoolCommand =
  | CreatePool
  | RecordImagePublished
  | RecordImageFailed
  | RequestMachine
  | RecordMachineReady
  | RecordMachineFailed
  | AssignDesktop
  | LogOff
  | RequestMachineRefresh
  | RecordMachineRefreshed
  | RecordMachineRefreshFailed
  | RequestVmRemoval
  | RecordRemovalFailed
  | RecordVmRemoved
  | EditPool
  | DeletePool
  | PushImage
  | SchedulePush
  | UnschedulePush
  | RecordMachinesLost;

// ------------------------------------------------------------------------------------------------
// Naming: {n} or {n:fixed=N}, names within the 15 characters a Windows desktop's NetBIOS name has

const NAME_TOKEN = /\{n(?::fixed=(\d+))?\}/g;
export const MACHINE_NAME_MAX_LENGTH = 15;

export function machineName(pattern: string, number: number): string {
  return pattern.replace(NAME_TOKEN, (_token, fixed?: string) =>
    fixed ? String(number).padStart(Number(fixed), '0') : String(number),
  );
}

/** Everything wrong with a naming pattern for a pool of this size. */
export function namingReasons(pattern: string, maxMachines: number): ErrorReason[] {
  const pointer = '/namingPattern';
  const tokens = [...pattern.matchAll(NAME_TOKEN)];
  const reasons: ErrorReason[] = [];
  if (tokens.length !== 1) {
    reasons.push({
      code: 'POOL.NAMING_TOKEN',
      detail: `The pattern needs exactly one {n} or {n:fixed=N} token; '${pattern}' has ${tokens.length}`,
      pointer,
    });
    return reasons;
  }
  const rest = pattern.replace(NAME_TOKEN, '');
  if (/[{}]/.test(rest)) {
    reasons.push({
      code: 'POOL.NAMING_UNKNOWN_TOKEN',
      detail: `Only {n} and {n:fixed=N} are tokens; '${pattern}' has another`,
      pointer,
    });
  }
  if (!/^[A-Za-z0-9-]*$/.test(rest)) {
    reasons.push({
      code: 'POOL.NAMING_CHARACTERS',
      detail: 'Machine names take letters, digits and hyphens only',
      pointer,
    });
  }
  const fixed = tokens[0][1] === undefined ? null : Number(tokens[0][1]);
  if (fixed !== null && (fixed < 1 || maxMachines > 10 ** fixed - 1)) {
    reasons.push({
      code: 'POOL.NAMING_TOO_FEW_DIGITS',
      detail: `{n:fixed=${fixed}} numbers up to ${10 ** fixed - 1} machines; the pool may have ${maxMachines}`,
      pointer,
    });
  }
  const longest = machineName(pattern, maxMachines);
  if (longest.length > MACHINE_NAME_MAX_LENGTH) {
    reasons.push({
      code: 'POOL.NAMING_TOO_LONG',
      detail: `'${longest}' has ${longest.length} characters; machine names have at most ${MACHINE_NAME_MAX_LENGTH}`,
      pointer,
    });
  }
  return reasons;
}

function settingsReasons(
  settings: Pick<PoolSettings, 'namingPattern' | 'maxMachines' | 'spareMachines'>,
) {
  const reasons = namingReasons(settings.namingPattern, settings.maxMachines);
  if (settings.spareMachines > settings.maxMachines) {
    reasons.push({
      code: 'POOL.SPARES_ABOVE_MAXIMUM',
      detail: `${settings.spareMachines} spare machines do not fit in a maximum of ${settings.maxMachines}`,
      pointer: '/spareMachines',
    });
  }
  return reasons;
}

// ------------------------------------------------------------------------------------------------
// Questions the workflows ask

/** Machines that count towards the maximum (those being deleted no longer do). */
export const activeMachines = (pool: ExistingPool) =>
  pool.machines.filter((machine) => machine.status !== 'removing');

/** A machine forked from an image the pool no longer forks from: push image replaces it. */
export const isOutdated = (pool: ExistingPool, machine: PoolMachine) =>
  machine.imageTaskId !== pool.image.taskId;

export const desktopOf = (pool: ExistingPool, userId: string) =>
  pool.machines.find((machine) => machine.userId === userId && machine.status !== 'removing');

/** Where the image's parents are: the pool's sites, in a stable order for comparing. */
export const imageSites = (image: PoolImage) =>
  image.parents.map((p) => `${p.hostId}/${p.datastoreId}`).sort();

/**
 * The parent the next machine forks from: of those given (the ones running), the one with the
 * fewest machines of the current image, so machines spread over the pool's hosts and datastores.
 */
export function parentForNextMachine(
  pool: ExistingPool,
  running: (parentVmId: string) => boolean,
): string | undefined {
  const load = (parentVmId: string) =>
    activeMachines(pool).filter((machine) => machine.parentVmId === parentVmId).length;
  const candidates = pool.image.parents.filter((p) => running(p.parentVmId));
  return candidates.reduce<PoolImage['parents'][number] | undefined>(
    (best, next) => (best && load(best.parentVmId) <= load(next.parentVmId) ? best : next),
    undefined,
  )?.parentVmId;
}

/** The machine to hand to the next user: a running spare (of the current image first), else one being forked. */
export function nextSpare(pool: ExistingPool): PoolMachine | undefined {
  const unassigned = pool.machines.filter((machine) => machine.userId === null);
  const ready = unassigned.filter((machine) => machine.status === 'ready');
  return (
    ready.find((machine) => !isOutdated(pool, machine)) ??
    ready[0] ??
    unassigned.find(
      (machine) => machine.status === 'provisioning' || machine.status === 'refreshing',
    )
  );
}

/**
 * How many of a pool's machines are forked at once, at most: the rest are decided as these finish.
 * One decision (one transaction, under the pool's lock) forks a batch, never the whole pool.
 */
export const POOL_FORKS_UNDER_WAY = 20;

/**
 * How many machines the pool should fork now to keep its spares (or, up front, reach its maximum),
 * in batches: no more than POOL_FORKS_UNDER_WAY forks under way at once.
 */
export function machinesWanted(pool: ExistingPool): number {
  if (pool.lifecycle !== 'active' || pool.imageStatus !== 'published') return 0;
  const active = activeMachines(pool);
  const room = pool.settings.maxMachines - active.length;
  const underWay = pool.machines.filter((machine) => machine.status === 'provisioning').length;
  const batch = Math.max(0, POOL_FORKS_UNDER_WAY - underWay);
  if (pool.settings.provisioning === 'up-front') return Math.max(0, Math.min(room, batch));
  // Spares of an earlier image are being replaced: they do not count.
  const spares = active.filter(
    (machine) => machine.userId === null && !isOutdated(pool, machine) && machine.status !== 'lost',
  ).length;
  return Math.max(0, Math.min(room, batch, pool.settings.spareMachines - spares));
}

/**
 * Spares of an earlier image the pool removes now. Ready spares never drop below the spare count:
 * an old spare goes once a new one is ready, except at the maximum, where no new one can be forked
 * first: there, one old spare at a time makes room.
 */
function outdatedSparesDue(pool: ExistingPool): PoolMachine[] {
  if (pool.lifecycle !== 'active' || pool.push) return [];
  const readySpares = pool.machines.filter((m) => m.userId === null && m.status === 'ready');
  const outdated = readySpares.filter((m) => isOutdated(pool, m));
  let due = readySpares.length - pool.settings.spareMachines;
  const atMaximum = activeMachines(pool).length >= pool.settings.maxMachines;
  const underWay = pool.machines.some(
    (m) =>
      (m.status === 'removing' && isOutdated(pool, m)) ||
      (m.status === 'provisioning' && m.userId === null && !isOutdated(pool, m)),
  );
  if (due <= 0 && atMaximum && !underWay) due = 1;
  return outdated.slice(0, Math.max(0, due));
}

/** Desktops in use on an earlier image whose users an immediate rollout logs off now. */
export function desktopsToLogOff(pool: ExistingPool): PoolMachine[] {
  if (pool.lifecycle !== 'active' || pool.push || pool.rollout !== 'immediate') return [];
  return pool.machines.filter(
    (m) => m.userId !== null && m.status === 'ready' && isOutdated(pool, m),
  );
}

/**
 * The VMs the pool removes next: a deleting pool's machines, spares of an earlier image, and the
 * chain of every image no longer used (all of them when deleting): its parent once no fork from
 * it runs, its replica once no machine stands on it, then its internal template.
 */
export function removalsDue(
  pool: ExistingPool,
): { vmId: string; role: InternalRole | 'machine' }[] {
  const deleting = pool.lifecycle === 'deleting';
  const machines = (
    deleting
      ? pool.machines.filter((machine) => machine.status === 'ready' || machine.status === 'lost')
      : outdatedSparesDue(pool)
  ).map((machine) => ({ vmId: machine.vmId, role: 'machine' as const }));
  const internal: { vmId: string; role: InternalRole }[] = [];
  for (const imageTaskId of new Set(pool.internalVms.map((vm) => vm.imageTaskId))) {
    // A chain being built is left to its task; the current one stays while the pool does.
    const building =
      imageTaskId === pool.push?.image.taskId ||
      (imageTaskId === pool.image.taskId && pool.imageStatus === 'building');
    if (building || (imageTaskId === pool.image.taskId && !deleting)) continue;
    const standing = (role: InternalRole) =>
      pool.internalVms.filter((vm) => vm.imageTaskId === imageTaskId && vm.role === role);
    const notYet = (role: InternalRole) =>
      standing(role)
        .filter((vm) => !vm.removing)
        .map((vm) => ({ vmId: vm.vmId, role }));
    const itsMachines = pool.machines.filter((machine) => machine.imageTaskId === imageTaskId);
    // Machines still being forked need the parents; the others stand on the replicas, not on them.
    if (itsMachines.some((machine) => machine.status === 'provisioning')) continue;
    if (itsMachines.length > 0 || standing('parent').length > 0) internal.push(...notYet('parent'));
    else if (standing('replica').length > 0) internal.push(...notYet('replica'));
    else internal.push(...notYet('internal-template'));
  }
  return [...machines, ...internal];
}

// ------------------------------------------------------------------------------------------------
// Decide

function existing(state: PoolState, poolId: string): ExistingPool {
  if (state.status !== 'present')
    throw new NotFoundError('POOL.NOT_FOUND', `Pool ${poolId} does not exist`);
  return state;
}

function active(state: PoolState, poolId: string): ExistingPool {
  const pool = existing(state, poolId);
  if (pool.lifecycle === 'deleting')
    throw new IllegalStateError(
      'POOL.BEING_DELETED',
      `Pool ${pool.settings.name} is being deleted`,
    );
  return pool;
}

function machineOf(pool: ExistingPool, vmId: string): PoolMachine {
  const machine = pool.machines.find((m) => m.vmId === vmId);
  if (!machine)
    throw new NotFoundError(
      'POOL.MACHINE_NOT_FOUND',
      `Pool ${pool.settings.name} has no machine ${vmId}`,
    );
  return machine;
}

function machineNumber(pool: ExistingPool, replacing: string | undefined): number {
  if (replacing === undefined) return firstFreeNumber(pool);
  const replaced = machineOf(pool, replacing);
  if (replaced.status !== 'removing')
    throw new IllegalStateError(
      'POOL.MACHINE_NOT_REMOVING',
      `${replaced.name} is ${replaced.status}: a machine takes its name only as it is removed`,
    );
  return replaced.number;
}

function firstFreeNumber(pool: ExistingPool): number {
  const used = new Set(pool.machines.map((machine) => machine.number));
  let number = 1;
  while (used.has(number)) number++;
  return number;
}

function requestMachine(command: RequestMachine, state: PoolState): PoolEvent[] {
  const pool = active(state, command.data.poolId);
  if (pool.imageStatus !== 'published')
    throw new IllegalStateError(
      pool.imageStatus === 'building' ? 'POOL.IMAGE_NOT_READY' : 'POOL.IMAGE_FAILED',
      `Pool ${pool.settings.name}'s image is ${pool.imageStatus === 'building' ? 'still being built' : 'broken'}: no machine can be forked`,
    );
  if (activeMachines(pool).length >= pool.settings.maxMachines)
    throw new IllegalStateError(
      'POOL.AT_MAXIMUM',
      `Pool ${pool.settings.name} has its maximum of ${pool.settings.maxMachines} machines, all in use`,
    );
  const { replacing, ...requested } = command.data;
  if (!pool.image.parents.some((p) => p.parentVmId === requested.parentVmId))
    throw new IllegalStateError(
      'POOL.NOT_A_PARENT',
      `${requested.parentVmId} is not a parent of pool ${pool.settings.name}'s current image`,
    );
  const number = machineNumber(pool, replacing);
  return [
    {
      type: 'PoolMachineRequested',
      data: { ...requested, number, name: machineName(pool.settings.namingPattern, number) },
    },
  ];
}

function assignDesktop(command: AssignDesktop, state: PoolState): PoolEvent[] {
  const pool = active(state, command.data.poolId);
  const held = desktopOf(pool, command.data.userId);
  if (held)
    throw new IllegalStateError(
      'POOL.USER_HAS_DESKTOP',
      `${command.data.userId} has desktop ${held.name} in pool ${pool.settings.name} already`,
    );
  const machine = machineOf(pool, command.data.vmId);
  if (machine.userId !== null || machine.status === 'removing')
    throw new IllegalStateError(
      'POOL.MACHINE_TAKEN',
      `${machine.name} is ${machine.userId ? `${machine.userId}'s desktop` : 'being removed'}`,
    );
  return [{ type: 'PoolDesktopAssigned', data: command.data }];
}

function logOff(command: LogOff, state: PoolState): PoolEvent[] {
  const pool = existing(state, command.data.poolId);
  const machine = machineOf(pool, command.data.vmId);
  if (machine.userId === null)
    throw new IllegalStateError('POOL.NOT_ASSIGNED', `${machine.name} is nobody's desktop`);
  if (machine.status !== 'ready')
    throw new IllegalStateError(
      'POOL.MACHINE_NOT_READY',
      `${machine.name} is ${machine.status}: its user cannot log off now`,
    );
  return [
    {
      type: 'PoolDesktopLoggedOff',
      data: {
        ...command.data,
        userId: machine.userId,
        then: pool.settings.assignment === 'floating' ? 'delete' : 'refresh',
      },
    },
  ];
}

function editPool(command: EditPool, state: PoolState): PoolEvent[] {
  const pool = active(state, command.data.poolId);
  const next = {
    name: command.data.name ?? pool.settings.name,
    maxMachines: command.data.maxMachines ?? pool.settings.maxMachines,
    spareMachines: command.data.spareMachines ?? pool.settings.spareMachines,
  };
  const reasons = settingsReasons({ ...next, namingPattern: pool.settings.namingPattern });
  const inUse = activeMachines(pool).length;
  if (next.maxMachines < inUse) {
    reasons.push({
      code: 'POOL.MAXIMUM_BELOW_MACHINES',
      detail: `The pool has ${inUse} machines; delete some (users log off) before lowering its maximum to ${next.maxMachines}`,
      pointer: '/maxMachines',
    });
  }
  if (reasons.length > 0)
    throw new ValidationError('POOL.INVALID', 'The pool settings do not hold', reasons);
  const { name, maxMachines, spareMachines } = pool.settings;
  if (
    name === next.name &&
    maxMachines === next.maxMachines &&
    spareMachines === next.spareMachines
  )
    return [];
  return [{ type: 'PoolEdited', data: { poolId: pool.poolId, ...next } }];
}

function pushImage(command: PushImage, state: PoolState): PoolEvent[] {
  const pool = active(state, command.data.poolId);
  if (pool.imageStatus !== 'published')
    throw new IllegalStateError(
      'POOL.IMAGE_NOT_READY',
      `Pool ${pool.settings.name}'s image is ${pool.imageStatus}: push an image once it is published`,
    );
  if (pool.push)
    throw new IllegalStateError(
      'POOL.PUSH_IN_PROGRESS',
      `Pool ${pool.settings.name} is building pushed image task ${pool.push.image.taskId}: cancel it or wait`,
    );
  const { scheduled, ...data } = command.data;
  if (pool.scheduledPush && !scheduled)
    throw new IllegalStateError(
      'POOL.PUSH_SCHEDULED',
      `Pool ${pool.settings.name} has a push scheduled at ${pool.scheduledPush.startAt}: cancel it first`,
    );
  const { image } = data;
  const reasons: ErrorReason[] = [];
  if (imageSites(image).join() !== imageSites(pool.image).join()) {
    reasons.push({
      code: 'POOL.PUSH_PLACEMENT',
      detail: `A pushed image stands where the pool does: a parent on each of ${imageSites(pool.image).join(', ')} (host/datastore)`,
    });
  }
  if (reasons.length > 0)
    throw new ValidationError('POOL.INVALID', 'The pushed image does not fit the pool', reasons);
  return [{ type: 'PoolImagePushStarted', data }];
}

function schedulePush(command: SchedulePush, state: PoolState): PoolEvent[] {
  const pool = active(state, command.data.poolId);
  if (pool.scheduledPush)
    throw new IllegalStateError(
      'POOL.PUSH_SCHEDULED',
      `Pool ${pool.settings.name} has a push scheduled at ${pool.scheduledPush.startAt}: cancel it first`,
    );
  return [{ type: 'PoolImagePushScheduled', data: command.data }];
}

/** The end of an image build: the pool's first image, or a pushed one. */
function recordImageBuilt(
  command: RecordImagePublished | RecordImageFailed,
  state: PoolState,
): PoolEvent[] {
  const pool = existing(state, command.data.poolId);
  const { taskId } = command.data;
  if (pool.push?.image.taskId === taskId) {
    return command.type === 'RecordImagePublished'
      ? [{ type: 'PoolImagePushed', data: command.data }]
      : [{ type: 'PoolImagePushFailed', data: command.data }];
  }
  if (pool.image.taskId !== taskId || pool.imageStatus !== 'building')
    throw new IllegalStateError(
      'POOL.NOT_BUILDING',
      `Pool ${pool.settings.name} is not building image task ${taskId}`,
    );
  return command.type === 'RecordImagePublished'
    ? [{ type: 'PoolImagePublished', data: command.data }]
    : [{ type: 'PoolImageFailed', data: command.data }];
}

function recordVmRemoved(command: RecordVmRemoved, state: PoolState): PoolEvent[] {
  const pool = existing(state, command.data.poolId);
  const removed: PoolEvent[] = [{ type: 'PoolVmRemoved', data: command.data }];
  const after = removed.reduce(evolve, state);
  const left = after.status === 'present' ? after.machines.length + after.internalVms.length : 0;
  return pool.lifecycle === 'deleting' && left === 0
    ? [...removed, { type: 'PoolDeleted', data: { poolId: pool.poolId } }]
    : removed;
}

function decide(command: PoolCommand, state: PoolState): PoolEvent[] {
  const { poolId } = command.data;
  switch (command.type) {
    case 'CreatePool': {
      if (state.status !== 'absent')
        throw new IllegalStateError('POOL.ALREADY_EXISTS', `Pool ${poolId} already exists`);
      const reasons = settingsReasons(command.data.settings);
      if (reasons.length > 0)
        throw new ValidationError('POOL.INVALID', 'The pool settings do not hold', reasons);
      return [{ type: 'PoolCreated', data: command.data }];
    }
    case 'RecordImagePublished':
    case 'RecordImageFailed':
      return recordImageBuilt(command, state);
    case 'PushImage':
      return pushImage(command, state);
    case 'SchedulePush':
      return schedulePush(command, state);
    case 'RecordMachinesLost': {
      const pool = existing(state, poolId);
      const lost = command.data.vmIds.filter((vmId) =>
        pool.machines.some(
          (m) => m.vmId === vmId && m.status !== 'removing' && m.status !== 'lost',
        ),
      );
      return lost.length === 0
        ? []
        : [{ type: 'PoolMachinesLost', data: { ...command.data, vmIds: lost } }];
    }
    case 'UnschedulePush': {
      const pool = existing(state, poolId);
      if (!pool.scheduledPush)
        throw new NotFoundError(
          'POOL.NO_SCHEDULED_PUSH',
          `Pool ${pool.settings.name} has no push scheduled`,
        );
      return [{ type: 'PoolImagePushUnscheduled', data: command.data }];
    }
    case 'RequestMachine':
      return requestMachine(command, state);
    case 'RecordMachineReady':
    case 'RecordMachineFailed': {
      const pool = existing(state, poolId);
      const machine = machineOf(pool, command.data.vmId);
      if (machine.status !== 'provisioning')
        throw new IllegalStateError(
          'POOL.MACHINE_NOT_PROVISIONING',
          `${machine.name} is ${machine.status}`,
        );
      return command.type === 'RecordMachineReady'
        ? [{ type: 'PoolMachineReady', data: command.data }]
        : [{ type: 'PoolMachineFailed', data: command.data }];
    }
    case 'AssignDesktop':
      return assignDesktop(command, state);
    case 'LogOff':
      return logOff(command, state);
    case 'RequestMachineRefresh': {
      const pool = active(state, poolId);
      const machine = machineOf(pool, command.data.vmId);
      if (machine.status !== 'ready')
        throw new IllegalStateError(
          'POOL.MACHINE_NOT_READY',
          `${machine.name} is ${machine.status}: it cannot be refreshed now`,
        );
      return [{ type: 'PoolMachineRefreshRequested', data: command.data }];
    }
    case 'RecordMachineRefreshed': {
      const machine = machineOf(existing(state, poolId), command.data.vmId);
      if (machine.status !== 'refreshing')
        throw new IllegalStateError(
          'POOL.MACHINE_NOT_REFRESHING',
          `${machine.name} is ${machine.status}`,
        );
      return [{ type: 'PoolMachineRefreshed', data: command.data }];
    }
    case 'RecordMachineRefreshFailed': {
      const machine = machineOf(existing(state, poolId), command.data.vmId);
      if (machine.status !== 'refreshing')
        throw new IllegalStateError(
          'POOL.MACHINE_NOT_REFRESHING',
          `${machine.name} is ${machine.status}`,
        );
      return [{ type: 'PoolMachineRefreshFailed', data: command.data }];
    }
    case 'RecordRemovalFailed':
      existing(state, poolId);
      return [{ type: 'PoolVmRemovalFailed', data: command.data }];
    case 'RequestVmRemoval': {
      const pool = existing(state, poolId);
      const machine = pool.machines.find((m) => m.vmId === command.data.vmId);
      const internal = pool.internalVms.find((vm) => vm.vmId === command.data.vmId);
      if (!machine && !internal)
        throw new NotFoundError(
          'POOL.MACHINE_NOT_FOUND',
          `Pool ${pool.settings.name} has no VM ${command.data.vmId}`,
        );
      if (machine?.status === 'removing' || internal?.removing) return [];
      if (machine && machine.status !== 'ready' && machine.status !== 'lost')
        throw new IllegalStateError(
          'POOL.MACHINE_NOT_READY',
          `${machine.name} is ${machine.status}: it cannot be removed now`,
        );
      return [{ type: 'PoolVmRemovalRequested', data: command.data }];
    }
    case 'RecordVmRemoved':
      return recordVmRemoved(command, state);
    case 'EditPool':
      return editPool(command, state);
    case 'DeletePool': {
      const pool = existing(state, poolId);
      if (pool.lifecycle === 'deleting') return [];
      const requested: PoolEvent = { type: 'PoolDeletionRequested', data: { poolId } };
      // A pool whose image never came to be has nothing to remove.
      return pool.machines.length + pool.internalVms.length === 0
        ? [requested, { type: 'PoolDeleted', data: { poolId } }]
        : [requested];
    }
    default:
      return assertNever(command);
  }
}

// ------------------------------------------------------------------------------------------------
// Evolve

function evolvePresent(pool: ExistingPool, event: Exclude<PoolEvent, PoolCreated>): PoolState {
  const present = (changes: Partial<ExistingPool>): PoolState => ({
    status: 'present',
    ...pool,
    ...changes,
  });
  const machine = (vmId: string, changes: Partial<PoolMachine>) =>
    present({ machines: pool.machines.map((m) => (m.vmId === vmId ? { ...m, ...changes } : m)) });
  switch (event.type) {
    case 'PoolImagePublished':
      return present({ imageStatus: 'published' });
    case 'PoolImageFailed':
      // The chain's VMs never came to be (their task failed): nothing of them is left to remove.
      return present({ imageStatus: 'failed', internalVms: [] });
    case 'PoolMachineRequested': {
      const { vmId, name, number, userId } = event.data;
      const imageTaskId = pool.image.taskId;
      // v1 events name no parent: their pools had one.
      const parentVmId = event.data.parentVmId ?? pool.image.parents[0].parentVmId;
      return present({
        machines: [
          ...pool.machines,
          { vmId, name, number, userId, status: 'provisioning', imageTaskId, parentVmId },
        ],
      });
    }
    case 'PoolMachineReady':
    case 'PoolMachineRefreshed':
      return machine(event.data.vmId, { status: 'ready' });
    case 'PoolMachineFailed':
      return present({ machines: pool.machines.filter((m) => m.vmId !== event.data.vmId) });
    case 'PoolDesktopAssigned':
      return machine(event.data.vmId, { userId: event.data.userId });
    case 'PoolDesktopLoggedOff':
      // A dedicated desktop stays its user's; a floating one is nobody's from now on.
      return event.data.then === 'delete'
        ? machine(event.data.vmId, { userId: null })
        : present({});
    case 'PoolMachineRefreshRequested':
      return machine(event.data.vmId, { status: 'refreshing' });
    case 'PoolMachineRefreshFailed':
      return machine(event.data.vmId, { status: 'ready' });
    case 'PoolVmRemovalFailed': {
      const { vmId } = event.data;
      return present({
        machines: pool.machines.map((m) => (m.vmId === vmId ? { ...m, status: 'ready' } : m)),
        internalVms: pool.internalVms.map((vm) =>
          vm.vmId === vmId ? { ...vm, removing: false } : vm,
        ),
      });
    }
    case 'PoolVmRemovalRequested': {
      const { vmId } = event.data;
      return present({
        machines: pool.machines.map((m) => (m.vmId === vmId ? { ...m, status: 'removing' } : m)),
        internalVms: pool.internalVms.map((vm) =>
          vm.vmId === vmId ? { ...vm, removing: true } : vm,
        ),
      });
    }
    case 'PoolVmRemoved': {
      const { vmId } = event.data;
      return present({
        machines: pool.machines.filter((m) => m.vmId !== vmId),
        internalVms: pool.internalVms.filter((vm) => vm.vmId !== vmId),
      });
    }
    case 'PoolEdited': {
      const { name, maxMachines, spareMachines } = event.data;
      return present({ settings: { ...pool.settings, name, maxMachines, spareMachines } });
    }
    case 'PoolDeletionRequested':
      return present({ lifecycle: 'deleting' });
    case 'PoolDeleted':
      return { status: 'deleted', poolId: pool.poolId };
    case 'PoolMachinesLost':
      return present({
        machines: pool.machines.map((m) =>
          event.data.vmIds.includes(m.vmId) ? { ...m, status: 'lost' } : m,
        ),
      });
    case 'PoolImagePushScheduled':
      return present({ scheduledPush: event.data });
    case 'PoolImagePushUnscheduled':
      return present({ scheduledPush: null });
    case 'PoolImagePushStarted': {
      const { image, rollout } = event.data;
      return present({
        push: { image, rollout },
        scheduledPush: null,
        internalVms: [...pool.internalVms, ...chainVms(image)],
      });
    }
    case 'PoolImagePushed':
      return present({
        image: pool.push!.image,
        rollout: pool.push!.rollout,
        previousImage: pool.image,
        push: null,
      });
    case 'PoolImagePushFailed':
      // Its chain's VMs never came to be (their task failed): nothing of them is left to remove.
      return present({
        push: null,
        internalVms: pool.internalVms.filter((vm) => vm.imageTaskId !== event.data.taskId),
      });
    default:
      return assertNever(event);
  }
}

const chainVms = (image: PoolImage): ExistingPool['internalVms'] =>
  [
    { vmId: image.templateVmId, role: 'internal-template' as const },
    ...image.replicas.map((r) => ({ vmId: r.replicaVmId, role: 'replica' as const })),
    ...image.parents.map((p) => ({ vmId: p.parentVmId, role: 'parent' as const })),
  ].map((vm) => ({ ...vm, imageTaskId: image.taskId, removing: false }));

function evolve(state: PoolState, event: PoolEvent): PoolState {
  if (event.type === 'PoolCreated') {
    const { poolId, settings, image } = event.data;
    return {
      status: 'present',
      poolId,
      settings,
      image,
      imageStatus: 'building',
      push: null,
      scheduledPush: null,
      rollout: 'at-logoff',
      previousImage: null,
      machines: [],
      internalVms: chainVms(image),
      lifecycle: 'active',
    };
  }
  if (state.status !== 'present')
    throw new Error(`${event.type} applied to a pool that is ${state.status}`);
  return evolvePresent(state, event);
}

export const poolDecider: Decider<PoolState, PoolCommand, PoolEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide: (command, state) => decide(command, state),
  evolve,
};
