import { streamIdOf } from '../shared/streams';
import { assertNever } from '../shared/decider';
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
    case 'PoolImagePushed': {
      // Decided only for the push under way: none here means a corrupt stream.
      if (!pool.push)
        throw new Error(`PoolImagePushed applied to pool ${pool.poolId} with no push`);
      return present({
        image: pool.push.image,
        rollout: pool.push.rollout,
        previousImage: pool.image,
        push: null,
      });
    }
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

export function evolvePool(state: PoolState, event: PoolEvent): PoolState {
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
