import { type Command, type Decider, assertNever } from '../shared/decider';
import {
  type ErrorReason,
  IllegalStateError,
  NotFoundError,
  ValidationError,
} from '../shared/errors';
import type { PoolCreated, PoolEvent, PoolImage, PoolSettings } from './pool.events';

export interface PoolMachine {
  vmId: string;
  name: string;
  number: number;
  /** provisioning: being forked; ready: runs; refreshing: going back to the replica's state; removing: being deleted. */
  status: 'provisioning' | 'ready' | 'refreshing' | 'removing';
  userId: string | null;
}

export type InternalRole = 'parent' | 'replica' | 'internal-template';

export interface ExistingPool {
  poolId: string;
  settings: PoolSettings;
  image: PoolImage;
  imageStatus: 'building' | 'published' | 'failed';
  machines: PoolMachine[];
  /** The chain's VMs still standing, and whether the pool is deleting them. */
  internalVms: { vmId: string; role: InternalRole; removing: boolean }[];
  lifecycle: 'active' | 'deleting';
}

export type PoolState =
  | { status: 'absent' }
  | ({ status: 'present' } & ExistingPool)
  | { status: 'deleted'; poolId: string };

export const poolStreamId = (poolId: string) => `pool-${poolId}`;

type PoolRef = { poolId: string };
export type CreatePool = Command<'CreatePool', PoolCreated['data']>;
export type RecordImagePublished = Command<'RecordImagePublished', PoolRef & { taskId: string }>;
export type RecordImageFailed = Command<
  'RecordImageFailed',
  PoolRef & { taskId: string; code: string; message: string }
>;
export type RequestMachine = Command<
  'RequestMachine',
  PoolRef & { vmId: string; taskId: string; userId: string | null }
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
  | DeletePool;

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

export const desktopOf = (pool: ExistingPool, userId: string) =>
  pool.machines.find((machine) => machine.userId === userId && machine.status !== 'removing');

/** The machine to hand to the next user: a running spare, else one being forked. */
export function nextSpare(pool: ExistingPool): PoolMachine | undefined {
  const unassigned = pool.machines.filter((machine) => machine.userId === null);
  return (
    unassigned.find((machine) => machine.status === 'ready') ??
    unassigned.find(
      (machine) => machine.status === 'provisioning' || machine.status === 'refreshing',
    )
  );
}

/** How many machines the pool should fork now to keep its spares (or, up front, reach its maximum). */
export function machinesWanted(pool: ExistingPool): number {
  if (pool.lifecycle !== 'active' || pool.imageStatus !== 'published') return 0;
  const active = activeMachines(pool);
  const room = pool.settings.maxMachines - active.length;
  if (pool.settings.provisioning === 'up-front') return Math.max(0, room);
  const spares = active.filter((machine) => machine.userId === null).length;
  return Math.max(0, Math.min(room, pool.settings.spareMachines - spares));
}

/** The VMs a deleting pool removes next: machines and parent first, then the replica, then the template. */
export function teardownNext(
  pool: ExistingPool,
): { vmId: string; role: InternalRole | 'machine' }[] {
  if (pool.lifecycle !== 'deleting') return [];
  const machines = pool.machines
    .filter((machine) => machine.status === 'ready')
    .map((machine) => ({ vmId: machine.vmId, role: 'machine' as const }));
  const standing = (role: InternalRole) => pool.internalVms.find((vm) => vm.role === role);
  const notYet = (role: InternalRole) => {
    const vm = standing(role);
    return vm && !vm.removing ? [{ vmId: vm.vmId, role }] : [];
  };
  // Machines still being forked or refreshed are removed once that ends; the parent once no fork runs.
  if (pool.machines.some((machine) => machine.status === 'provisioning')) return machines;
  if (pool.machines.length > 0 || standing('parent')) return [...machines, ...notYet('parent')];
  if (standing('replica')) return notYet('replica');
  return notYet('internal-template');
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
  const number = firstFreeNumber(pool);
  return [
    {
      type: 'PoolMachineRequested',
      data: { ...command.data, number, name: machineName(pool.settings.namingPattern, number) },
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
    case 'RecordImageFailed': {
      const pool = existing(state, poolId);
      if (pool.image.taskId !== command.data.taskId || pool.imageStatus !== 'building')
        throw new IllegalStateError(
          'POOL.NOT_BUILDING',
          `Pool ${pool.settings.name} is not building image task ${command.data.taskId}`,
        );
      return command.type === 'RecordImagePublished'
        ? [{ type: 'PoolImagePublished', data: command.data }]
        : [{ type: 'PoolImageFailed', data: command.data }];
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
      if (machine && machine.status !== 'ready')
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
      return present({
        machines: [...pool.machines, { vmId, name, number, userId, status: 'provisioning' }],
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
    default:
      return assertNever(event);
  }
}

function evolve(state: PoolState, event: PoolEvent): PoolState {
  if (event.type === 'PoolCreated') {
    const { poolId, settings, image } = event.data;
    return {
      status: 'present',
      poolId,
      settings,
      image,
      imageStatus: 'building',
      machines: [],
      internalVms: [
        { vmId: image.templateVmId, role: 'internal-template', removing: false },
        { vmId: image.replicaVmId, role: 'replica', removing: false },
        { vmId: image.parentVmId, role: 'parent', removing: false },
      ],
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
