/** Questions the workflows ask of a pool. */
import type { PoolImage } from './pool.events';
import type { ExistingPool, InternalRole, PoolMachine } from './pool.state';

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
