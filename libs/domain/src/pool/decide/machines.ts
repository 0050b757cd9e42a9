/** The pool's machines: forked, handed to users, logged off, refreshed, lost with their host. */
import { IllegalStateError } from '../../shared/errors';
import type {
  AssignDesktop,
  LogOff,
  RecordMachineFailed,
  RecordMachineReady,
  RecordMachineRefreshFailed,
  RecordMachineRefreshed,
  RecordMachinesLost,
  RequestMachine,
  RequestMachineRefresh,
} from '../pool.commands';
import type { PoolEvent } from '../pool.events';
import { machineName } from '../pool-naming';
import { activeMachines, desktopOf } from '../pool.queries';
import type { ExistingPool, PoolState } from '../pool.state';
import { active, existing, machineOf } from './preconditions';

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

export function requestMachine(command: RequestMachine, state: PoolState): PoolEvent[] {
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

export function assignDesktop(command: AssignDesktop, state: PoolState): PoolEvent[] {
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

export function logOff(command: LogOff, state: PoolState): PoolEvent[] {
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

/** The end of a fork: the machine runs, or it never came to be. */
export function recordMachineForked(
  command: RecordMachineReady | RecordMachineFailed,
  state: PoolState,
): PoolEvent[] {
  const machine = machineOf(existing(state, command.data.poolId), command.data.vmId);
  if (machine.status !== 'provisioning')
    throw new IllegalStateError(
      'POOL.MACHINE_NOT_PROVISIONING',
      `${machine.name} is ${machine.status}`,
    );
  return command.type === 'RecordMachineReady'
    ? [{ type: 'PoolMachineReady', data: command.data }]
    : [{ type: 'PoolMachineFailed', data: command.data }];
}

export function requestMachineRefresh(
  command: RequestMachineRefresh,
  state: PoolState,
): PoolEvent[] {
  const machine = machineOf(active(state, command.data.poolId), command.data.vmId);
  if (machine.status !== 'ready')
    throw new IllegalStateError(
      'POOL.MACHINE_NOT_READY',
      `${machine.name} is ${machine.status}: it cannot be refreshed now`,
    );
  return [{ type: 'PoolMachineRefreshRequested', data: command.data }];
}

/** The end of a refresh: the machine is back at the replica's state, or runs as it was. */
export function recordMachineRefreshed(
  command: RecordMachineRefreshed | RecordMachineRefreshFailed,
  state: PoolState,
): PoolEvent[] {
  const machine = machineOf(existing(state, command.data.poolId), command.data.vmId);
  if (machine.status !== 'refreshing')
    throw new IllegalStateError(
      'POOL.MACHINE_NOT_REFRESHING',
      `${machine.name} is ${machine.status}`,
    );
  return command.type === 'RecordMachineRefreshed'
    ? [{ type: 'PoolMachineRefreshed', data: command.data }]
    : [{ type: 'PoolMachineRefreshFailed', data: command.data }];
}

/** Machines whose host is gone; those already removing or lost are news to no one. */
export function recordMachinesLost(command: RecordMachinesLost, state: PoolState): PoolEvent[] {
  const pool = existing(state, command.data.poolId);
  const lost = command.data.vmIds.filter((vmId) =>
    pool.machines.some((m) => m.vmId === vmId && m.status !== 'removing' && m.status !== 'lost'),
  );
  return lost.length === 0
    ? []
    : [{ type: 'PoolMachinesLost', data: { ...command.data, vmIds: lost } }];
}
