import { deciderSpecification } from '@dolly/testing/pure';
import type { PoolEvent, PoolImage, PoolSettings } from './pool.events';
import {
  type ExistingPool,
  desktopsToLogOff,
  machineName,
  machinesWanted,
  namingReasons,
  parentForNextMachine,
  poolDecider,
  removalsDue,
} from './pool';

const poolId = '0190f3a0-0000-7000-8000-0000000000f1';
const hostId = '0190f3a0-0000-7000-8000-0000000000a1';
const datastoreId = '0190f3a0-0000-7000-8000-0000000000d1';
const parentVmId = '0190f3a0-0000-7000-8000-000000000004';
const replicaVmId = '0190f3a0-0000-7000-8000-000000000003';
const image: PoolImage = {
  goldenVmId: '0190f3a0-0000-7000-8000-000000000001',
  snapshotId: '0190f3a0-0000-7000-8000-00000000a501',
  templateVmId: '0190f3a0-0000-7000-8000-000000000002',
  replicas: [{ datastoreId, replicaVmId }],
  parents: [{ hostId, datastoreId, parentVmId }],
  taskId: '0190f3a0-0000-7000-8000-00000000f000',
};
const settings: PoolSettings = {
  name: 'sales',
  namingPattern: 'sales-{n:fixed=3}',
  maxMachines: 3,
  spareMachines: 1,
  provisioning: 'on-demand',
  assignment: 'floating',
};
const vm = (n: number) => `0190f3a0-0000-7000-8000-00000000100${n}`;
const task = (n: number) => `0190f3a0-0000-7000-8000-00000000200${n}`;

const created: PoolEvent = { type: 'PoolCreated', data: { poolId, settings, image } };
const published: PoolEvent = { type: 'PoolImagePublished', data: { poolId, taskId: image.taskId } };
const requested = (
  n: number,
  userId: string | null = null,
  number = n,
  parent = parentVmId,
): PoolEvent => ({
  type: 'PoolMachineRequested',
  data: {
    poolId,
    vmId: vm(n),
    taskId: task(n),
    name: `sales-00${number}`,
    number,
    userId,
    parentVmId: parent,
  },
});
const ready = (n: number): PoolEvent => ({
  type: 'PoolMachineReady',
  data: { poolId, vmId: vm(n) },
});
const assigned = (n: number, userId: string): PoolEvent => ({
  type: 'PoolDesktopAssigned',
  data: { poolId, vmId: vm(n), userId },
});
const live = [created, published];
const deleting: PoolEvent = { type: 'PoolDeletionRequested', data: { poolId } };
const removal = (vmId: string): PoolEvent => ({
  type: 'PoolVmRemovalRequested',
  data: { poolId, vmId, taskId: task(9) },
});
const removed = (vmId: string): PoolEvent => ({ type: 'PoolVmRemoved', data: { poolId, vmId } });

const spec = deciderSpecification(poolDecider);
const fold = (events: PoolEvent[]) =>
  events.reduce(poolDecider.evolve, poolDecider.initialState()) as {
    status: 'present';
  } & ExistingPool;

describe('Pool naming', () => {
  it('numbers machines with {n} or zero-padded {n:fixed=N}', () => {
    expect(machineName('desk-{n}', 7)).toBe('desk-7');
    expect(machineName('desk-{n:fixed=3}', 7)).toBe('desk-007');
  });

  it('refuses patterns without exactly one token, with other tokens or characters, too few digits or too long', () => {
    expect(namingReasons('desk', 10).map((r) => r.code)).toEqual(['POOL.NAMING_TOKEN']);
    expect(namingReasons('{n}-{n}', 10).map((r) => r.code)).toEqual(['POOL.NAMING_TOKEN']);
    expect(namingReasons('d_{n}{x}', 10).map((r) => r.code)).toEqual([
      'POOL.NAMING_UNKNOWN_TOKEN',
      'POOL.NAMING_CHARACTERS',
    ]);
    expect(namingReasons('d-{n:fixed=2}', 100).map((r) => r.code)).toEqual([
      'POOL.NAMING_TOO_FEW_DIGITS',
    ]);
    expect(namingReasons('engineering-{n}', 1000).map((r) => r.code)).toEqual([
      'POOL.NAMING_TOO_LONG',
    ]);
    expect(namingReasons('eng-{n:fixed=4}', 9999)).toEqual([]);
  });
});

describe('Pool', () => {
  it('is created with its image building, refusing bad settings with every reason', () => {
    spec.given([]).when({ type: 'CreatePool', data: { poolId, settings, image } }).then([created]);
    spec
      .given([])
      .when({
        type: 'CreatePool',
        data: { poolId, settings: { ...settings, namingPattern: 'x', spareMachines: 5 }, image },
      })
      .thenThrows('POOL.INVALID', ['POOL.NAMING_TOKEN', 'POOL.SPARES_ABOVE_MAXIMUM']);
  });

  it('forks nothing before its image is published', () => {
    spec
      .given([created])
      .when({
        type: 'RequestMachine',
        data: { poolId, vmId: vm(1), taskId: task(1), userId: null, parentVmId },
      })
      .thenThrows('POOL.IMAGE_NOT_READY');
    expect(machinesWanted(fold([created]))).toBe(0);
  });

  it('names each machine with the first free number, and refuses past its maximum', () => {
    spec
      .given(live)
      .when({
        type: 'RequestMachine',
        data: { poolId, vmId: vm(1), taskId: task(1), userId: null, parentVmId },
      })
      .then([requested(1)]);
    const failedFirst: PoolEvent = {
      type: 'PoolMachineFailed',
      data: { poolId, vmId: vm(1), code: 'DISK.FULL', message: 'full' },
    };
    spec
      .given([...live, requested(1), requested(2), failedFirst])
      .when({
        type: 'RequestMachine',
        data: { poolId, vmId: vm(3), taskId: task(3), userId: null, parentVmId },
      })
      .then([requested(3, null, 1)]);
    spec
      .given([...live, requested(1), requested(2), requested(3)])
      .when({
        type: 'RequestMachine',
        data: { poolId, vmId: vm(4), taskId: task(4), userId: null, parentVmId },
      })
      .thenThrows('POOL.AT_MAXIMUM');
  });

  it('keeps its spares on demand, or every machine up front', () => {
    expect(machinesWanted(fold(live))).toBe(1);
    expect(machinesWanted(fold([...live, requested(1)]))).toBe(0);
    expect(machinesWanted(fold([...live, requested(1), ready(1), assigned(1, 'ann')]))).toBe(1);
    const upFront = {
      ...created,
      data: { ...created.data, settings: { ...settings, provisioning: 'up-front' as const } },
    };
    expect(machinesWanted(fold([upFront, published, requested(1)]))).toBe(2);
  });

  it('hands one machine to one user only', () => {
    const withSpare = [...live, requested(1), ready(1)];
    spec
      .given(withSpare)
      .when({ type: 'AssignDesktop', data: { poolId, vmId: vm(1), userId: 'ann' } })
      .then([assigned(1, 'ann')]);
    spec
      .given([...withSpare, assigned(1, 'ann')])
      .when({ type: 'AssignDesktop', data: { poolId, vmId: vm(1), userId: 'bob' } })
      .thenThrows('POOL.MACHINE_TAKEN');
    spec
      .given([...withSpare, requested(2), assigned(1, 'ann')])
      .when({ type: 'AssignDesktop', data: { poolId, vmId: vm(2), userId: 'ann' } })
      .thenThrows('POOL.USER_HAS_DESKTOP');
  });

  it('deletes a floating desktop at logoff, refreshes a dedicated one and keeps it its user’s', () => {
    const inUse = [...live, requested(1), ready(1), assigned(1, 'ann')];
    spec
      .given(inUse)
      .when({ type: 'LogOff', data: { poolId, vmId: vm(1) } })
      .then([
        {
          type: 'PoolDesktopLoggedOff',
          data: { poolId, vmId: vm(1), userId: 'ann', then: 'delete' },
        },
      ]);
    const dedicated = {
      ...created,
      data: { ...created.data, settings: { ...settings, assignment: 'dedicated' as const } },
    };
    const loggedOff: PoolEvent = {
      type: 'PoolDesktopLoggedOff',
      data: { poolId, vmId: vm(1), userId: 'ann', then: 'refresh' },
    };
    spec
      .given([dedicated, published, requested(1), ready(1), assigned(1, 'ann')])
      .when({ type: 'LogOff', data: { poolId, vmId: vm(1) } })
      .then([loggedOff]);
    const after = fold([
      dedicated,
      published,
      requested(1),
      ready(1),
      assigned(1, 'ann'),
      loggedOff,
    ]);
    expect(after.machines[0].userId).toBe('ann');
    spec
      .given([...live, requested(1), ready(1)])
      .when({ type: 'LogOff', data: { poolId, vmId: vm(1) } })
      .thenThrows('POOL.NOT_ASSIGNED');
  });

  it('will not lower its maximum below the machines it has', () => {
    spec
      .given([...live, requested(1), requested(2)])
      .when({ type: 'EditPool', data: { poolId, maxMachines: 1 } })
      .thenThrows('POOL.INVALID', ['POOL.MAXIMUM_BELOW_MACHINES']);
    spec
      .given(live)
      .when({ type: 'EditPool', data: { poolId, spareMachines: 2 } })
      .then([
        { type: 'PoolEdited', data: { poolId, name: 'sales', maxMachines: 3, spareMachines: 2 } },
      ]);
  });

  it('is torn down in order: machines and parent, then replica, then internal template', () => {
    // A fork under way holds the parent back.
    expect(
      removalsDue(fold([...live, requested(1), ready(1), requested(2), deleting])).map(
        (v) => v.vmId,
      ),
    ).toEqual([vm(1)]);
    const forked = [...live, requested(1), ready(1), deleting];
    expect(removalsDue(fold(forked))).toEqual([
      { vmId: vm(1), role: 'machine' },
      { vmId: parentVmId, role: 'parent' },
    ]);
    const gone = [
      ...forked,
      removal(vm(1)),
      removal(parentVmId),
      removed(vm(1)),
      removed(parentVmId),
    ];
    expect(removalsDue(fold(gone))).toEqual([{ vmId: replicaVmId, role: 'replica' }]);
    const noReplica = [...gone, removal(replicaVmId), removed(replicaVmId)];
    expect(removalsDue(fold(noReplica))).toEqual([
      { vmId: image.templateVmId, role: 'internal-template' },
    ]);
    spec
      .given([...noReplica, removal(image.templateVmId)])
      .when({ type: 'RecordVmRemoved', data: { poolId, vmId: image.templateVmId } })
      .then([removed(image.templateVmId), { type: 'PoolDeleted', data: { poolId } }]);
  });

  it('takes no entitlement while being deleted', () => {
    spec
      .given([...live, requested(1), ready(1), { type: 'PoolDeletionRequested', data: { poolId } }])
      .when({ type: 'AssignDesktop', data: { poolId, vmId: vm(1), userId: 'ann' } })
      .thenThrows('POOL.BEING_DELETED');
  });

  it('whose image failed is deleted at once: nothing of it was made', () => {
    spec
      .given([
        created,
        {
          type: 'PoolImageFailed',
          data: { poolId, taskId: image.taskId, code: 'DISK.FULL', message: 'full' },
        },
      ])
      .when({ type: 'DeletePool', data: { poolId } })
      .then([
        { type: 'PoolDeletionRequested', data: { poolId } },
        { type: 'PoolDeleted', data: { poolId } },
      ]);
  });
});

describe('Push image', () => {
  const pushTask = '0190f3a0-0000-7000-8000-00000000f001';
  const newParentVmId = '0190f3a0-0000-7000-8000-000000000014';
  const newReplicaVmId = '0190f3a0-0000-7000-8000-000000000013';
  const newImage: PoolImage = {
    ...image,
    snapshotId: '0190f3a0-0000-7000-8000-00000000a502',
    templateVmId: '0190f3a0-0000-7000-8000-000000000012',
    replicas: [{ datastoreId, replicaVmId: newReplicaVmId }],
    parents: [{ hostId, datastoreId, parentVmId: newParentVmId }],
    taskId: pushTask,
  };
  const pushStarted = (rollout: 'at-logoff' | 'immediate' = 'at-logoff'): PoolEvent => ({
    type: 'PoolImagePushStarted',
    data: { poolId, image: newImage, rollout },
  });
  const pushed: PoolEvent = { type: 'PoolImagePushed', data: { poolId, taskId: pushTask } };
  const ids = (pool: ExistingPool) => removalsDue(pool).map((v) => v.vmId);
  /** Machine 1 is ann's desktop, machine 2 the spare; both of the first image. */
  const inUse = [...live, requested(1, 'ann'), ready(1), requested(2), ready(2)];

  it('is refused while the image builds, while another push builds, or elsewhere than the pool', () => {
    const push = {
      type: 'PushImage' as const,
      data: { poolId, image: newImage, rollout: 'at-logoff' as const },
    };
    spec.given([created]).when(push).thenThrows('POOL.IMAGE_NOT_READY');
    spec
      .given([...inUse, pushStarted()])
      .when(push)
      .thenThrows('POOL.PUSH_IN_PROGRESS');
    spec
      .given(inUse)
      .when({
        ...push,
        data: {
          ...push.data,
          image: { ...newImage, parents: [{ ...newImage.parents[0], hostId: vm(7) }] },
        },
      })
      .thenThrows('POOL.INVALID');
    spec.given(inUse).when(push).then([pushStarted()]);
  });

  it('publishes the pushed image, or forgets it when its build fails', () => {
    spec
      .given([...inUse, pushStarted()])
      .when({ type: 'RecordImagePublished', data: { poolId, taskId: pushTask } })
      .then([pushed]);
    const failed: PoolEvent = {
      type: 'PoolImagePushFailed',
      data: { poolId, taskId: pushTask, code: 'TASK.CANCELLED', message: 'cancelled' },
    };
    spec
      .given([...inUse, pushStarted()])
      .when({ type: 'RecordImageFailed', data: { ...failed.data } as never })
      .then([failed]);
    const after = fold([...inUse, pushStarted(), failed]);
    expect(after.image.taskId).toBe(image.taskId);
    expect(after.internalVms.map((v) => v.vmId)).toEqual([
      image.templateVmId,
      replicaVmId,
      parentVmId,
    ]);
  });

  it('keeps forking from the current image while the push builds, and removes nothing', () => {
    const building = fold([...inUse, pushStarted()]);
    expect(removalsDue(building)).toEqual([]);
    expect(machinesWanted(building)).toBe(0);
  });

  it('replaces spares without dropping below the spare count, desktops at logoff, then the old chain', () => {
    const afterPush = [...inUse, pushStarted(), pushed];
    let pool = fold(afterPush);
    expect(pool.previousImage).toEqual(image);
    // The old spare does not count: a new one is forked first; the old parent goes (no fork of it runs).
    expect(machinesWanted(pool)).toBe(1);
    expect(ids(pool)).toEqual([parentVmId]);
    const replacement = [requested(3, null, 3), removal(parentVmId), removed(parentVmId)];
    pool = fold([...afterPush, ...replacement]);
    expect(ids(pool)).toEqual([]);
    expect(pool.machines.find((m) => m.vmId === vm(3))!.imageTaskId).toBe(pushTask);
    pool = fold([...afterPush, ...replacement, ready(3)]);
    expect(ids(pool)).toEqual([vm(2)]);
    // ann's desktop stays until she logs off; the old replica stays while it stands under it.
    const spareGone = [...afterPush, ...replacement, ready(3), removal(vm(2)), removed(vm(2))];
    expect(ids(fold(spareGone))).toEqual([]);
    expect(desktopsToLogOff(fold(spareGone))).toEqual([]);
    const annGone = [...spareGone, removal(vm(1)), removed(vm(1))];
    expect(ids(fold(annGone))).toEqual([replicaVmId]);
    const replicaGone = [...annGone, removal(replicaVmId), removed(replicaVmId)];
    expect(ids(fold(replicaGone))).toEqual([image.templateVmId]);
  });

  it('at the maximum, makes room one old spare at a time', () => {
    const full = [
      ...live,
      requested(1),
      ready(1),
      requested(2),
      ready(2),
      requested(3),
      ready(3),
      { type: 'PoolEdited', data: { poolId, name: 'sales', maxMachines: 3, spareMachines: 3 } },
      pushStarted(),
      pushed,
    ] as PoolEvent[];
    const machinesDue = (events: PoolEvent[]) =>
      ids(fold(events)).filter((id) => id.startsWith(vm(0).slice(0, -1)));
    expect(machinesDue(full)).toEqual([vm(1)]);
    expect(machinesDue([...full, removal(vm(1))])).toEqual([]);
    expect(machinesDue([...full, removal(vm(1)), requested(4)])).toEqual([]);
    expect(machinesWanted(fold([...full, removal(vm(1))]))).toBe(1);
  });

  it('logs every old desktop off at once when the rollout is immediate', () => {
    const pool = fold([...inUse, pushStarted('immediate'), pushed]);
    expect(desktopsToLogOff(pool).map((m) => m.vmId)).toEqual([vm(1)]);
  });

  it('gives a re-forked desktop the name of the one it replaces', () => {
    spec
      .given([...inUse, removal(vm(1))])
      .when({
        type: 'RequestMachine',
        data: { poolId, vmId: vm(5), taskId: task(5), userId: 'ann', replacing: vm(1), parentVmId },
      })
      .then([requested(5, 'ann', 1)]);
    spec
      .given(inUse)
      .when({
        type: 'RequestMachine',
        data: { poolId, vmId: vm(5), taskId: task(5), userId: 'ann', replacing: vm(1), parentVmId },
      })
      .thenThrows('POOL.MACHINE_NOT_REMOVING');
  });
});

describe('A pool on several hosts and datastores', () => {
  const id = (n: number) => `0190f3a0-0000-7000-8000-0000000030${String(n).padStart(2, '0')}`;
  const [hostA, hostB, storeA, storeB] = [id(1), id(2), id(3), id(4)];
  const replicas = [
    { datastoreId: storeA, replicaVmId: id(11) },
    { datastoreId: storeB, replicaVmId: id(12) },
  ];
  const parents = [
    { hostId: hostA, datastoreId: storeA, parentVmId: id(21) },
    { hostId: hostA, datastoreId: storeB, parentVmId: id(22) },
    { hostId: hostB, datastoreId: storeA, parentVmId: id(23) },
    { hostId: hostB, datastoreId: storeB, parentVmId: id(24) },
  ];
  const sites: PoolImage = { ...image, replicas, parents };
  const big = { ...settings, maxMachines: 9 };
  const createdOnSites: PoolEvent = {
    type: 'PoolCreated',
    data: { poolId, settings: big, image: sites },
  };
  const onSites = [createdOnSites, published];
  const forkedFrom = (n: number, parent: string) => requested(n, null, n, parent);
  const everyParent = () => true;

  it('spreads its machines over its parents, and only over those running', () => {
    const next = (events: PoolEvent[], running: (vmId: string) => boolean = everyParent) =>
      parentForNextMachine(fold(events), running);
    expect(next(onSites)).toBe(id(21));
    expect(next([...onSites, forkedFrom(1, id(21))])).toBe(id(22));
    expect(
      next([...onSites, forkedFrom(1, id(21)), forkedFrom(2, id(22)), forkedFrom(3, id(23))]),
    ).toBe(id(24));
    expect(next([...onSites, forkedFrom(1, id(21))], (vmId) => vmId === id(21))).toBe(id(21));
    expect(next(onSites, () => false)).toBeUndefined();
    // A machine removed no longer weighs on its parent.
    const removing: PoolEvent = {
      type: 'PoolVmRemovalRequested',
      data: { poolId, vmId: vm(1), taskId: task(9) },
    };
    expect(next([...onSites, forkedFrom(1, id(21)), ready(1), removing])).toBe(id(21));
  });

  it('forks only from a parent of its current image', () => {
    spec
      .given(onSites)
      .when({
        type: 'RequestMachine',
        data: { poolId, vmId: vm(1), taskId: task(1), userId: null, parentVmId: id(24) },
      })
      .then([forkedFrom(1, id(24))]);
    spec
      .given(onSites)
      .when({
        type: 'RequestMachine',
        data: { poolId, vmId: vm(1), taskId: task(1), userId: null, parentVmId },
      })
      .thenThrows('POOL.NOT_A_PARENT');
  });

  it('refuses a pushed image on other sites than its own', () => {
    const pushed = (image: PoolImage) => ({
      type: 'PushImage' as const,
      data: { poolId, image, rollout: 'at-logoff' as const },
    });
    const newSites = { ...sites, taskId: id(90) };
    spec
      .given(onSites)
      .when(pushed({ ...newSites, parents: [...parents].reverse() }))
      .then([
        {
          type: 'PoolImagePushStarted',
          data: {
            poolId,
            image: { ...newSites, parents: [...parents].reverse() },
            rollout: 'at-logoff',
          },
        },
      ]);
    spec
      .given(onSites)
      .when(pushed({ ...newSites, parents: parents.slice(0, 3) }))
      .thenThrows('POOL.INVALID', ['POOL.PUSH_PLACEMENT']);
  });

  it('is torn down in order: machines and every parent, then every replica, then the template', () => {
    const forked = [...onSites, forkedFrom(1, id(23)), ready(1), deleting];
    const due = (events: PoolEvent[]) => removalsDue(fold(events)).map((v) => v.vmId);
    expect(due(forked)).toEqual([vm(1), id(21), id(22), id(23), id(24)]);
    const parentsGone = [vm(1), id(21), id(22), id(23)].flatMap((vmId) => [
      removal(vmId),
      removed(vmId),
    ]);
    // One parent still stands: the replicas stay.
    expect(due([...forked, ...parentsGone, removal(id(24))])).toEqual([]);
    const noParent = [...forked, ...parentsGone, removal(id(24)), removed(id(24))];
    expect(due(noParent)).toEqual([id(11), id(12)]);
    const oneReplica = [...noParent, removal(id(11)), removed(id(11))];
    expect(due([...oneReplica, removal(id(12))])).toEqual([]);
    const lastReplica = [...oneReplica, removal(id(12)), removed(id(12))];
    expect(due(lastReplica)).toEqual([image.templateVmId]);
  });
});
