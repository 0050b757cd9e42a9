import type { Event } from '../shared/decider';
import { type ExistingPool, POOL_FORKS_UNDER_WAY } from '../pool/pool';
import type { PoolImage, PoolSettings } from '../pool/pool.events';
import type { ExistingVm } from '../vm/vm';
import type { LiveExport, VmEvent } from '../vm/vm.events';
import { blockMapsMeasured } from '../vm/block-map-events';
import { type JobOutcome, abandonJob, completeJob } from './job-outcomes';
import { type IdSource } from './steps';
import { startFork } from './fork';
import { entitle, deletePool, logOff } from './pool-desktops';
import {
  createPool,
  pushImage,
  rollbackImage,
  schedulePush,
  startScheduledPush,
} from './pool-image';
import { recoverPool } from './pool-recovery';
import {
  type StreamEvents,
  goldenImageEvents,
  numberedIds,
  stream,
  workflowSpecification,
} from '@dolly/testing/pure';
import { STREAM_FOLDS, type StreamKind, Workspace } from './workspace';

const hostId = '0190f3a0-0000-7000-8000-0000000000a1';
const datastoreId = '0190f3a0-0000-7000-8000-0000000000d1';
/** A second host and datastore, for pools on several. */
const hostId2 = '0190f3a0-0000-7000-8000-0000000000a2';
const datastoreId2 = '0190f3a0-0000-7000-8000-0000000000d2';
const goldenVmId = '0190f3a0-0000-7000-8000-000000000001';
const diskId = '0190f3a0-0000-7000-8000-00000000d151';
const snapshotId = '0190f3a0-0000-7000-8000-00000000a501';
const poolId = '0190f3a0-0000-7000-8000-0000000000f1';
const GiB = 1024 ** 3;

const exported = (imageId: string, writable = true): LiveExport => ({
  imageId,
  uri: `nbd+unix:///${imageId}?socket=/run/w1.sock`,
  writable,
});

const goldenEvents: VmEvent[] = [
  ...goldenImageEvents({
    vmId: goldenVmId,
    hostId,
    datastoreId,
    diskId,
    snapshotId,
    biosUuid: '0190f3a0-0000-7000-8000-0000000000b1',
    createTaskId: '0190f3a0-0000-7000-8000-00000000f000',
    snapshotTaskId: '0190f3a0-0000-7000-8000-00000000f001',
  }),
  ...blockMapsMeasured(goldenVmId, '0190f3a0-0000-7000-8000-00000000f001', [
    {
      diskId,
      topLayerId: 'golden-top-2',
      capacityBytes: 32 * GiB,
      allocatedBytes: 6 * GiB,
      extents: [
        { offsetBytes: 0, lengthBytes: 6 * GiB, layerId: 'golden-v1', zero: false, shared: false },
      ],
      bytesPerLayer: [{ layerId: 'golden-v1', mappedBytes: 6 * GiB, shared: false }],
    },
  ]),
];

/** Two hosts, two datastores and the golden image, as the events of their streams. */
function worldStreams(
  options: { maxHardwareVersion?: string; capacityBytes?: number; hostId2Version?: string } = {},
): StreamEvents[] {
  const host = (id: string, name: string, maxHardwareVersion: string): Event => ({
    type: 'HostRegistered',
    data: {
      hostId: id,
      name,
      cpuCores: 16,
      memoryBytes: 256 * GiB,
      maxHardwareVersion,
      management: 'managed',
    },
  });
  const datastore = (id: string, name: string): Event => ({
    type: 'DatastoreRegistered',
    data: {
      datastoreId: id,
      name,
      capacityBytes: options.capacityBytes ?? 1024 * GiB,
      folder: `/srv/${name}`,
      overcommitRatio: 4,
    },
  });
  const version = options.maxHardwareVersion ?? 'vmx-19';
  return [
    stream('host', hostId, [host(hostId, 'esx-01', version)]),
    stream('host', hostId2, [host(hostId2, 'esx-02', options.hostId2Version ?? version)]),
    stream('datastore', datastoreId, [datastore(datastoreId, 'ds-01')]),
    stream('datastore', datastoreId2, [datastore(datastoreId2, 'ds-02')]),
    stream('vm', goldenVmId, goldenEvents),
  ];
}

/** The world's streams folded, for the steps of a longer story. */
function world(options: Parameters<typeof worldStreams>[0] = {}) {
  return new Workspace(
    worldStreams(options).map(({ kind, id, events }) => {
      const fold = STREAM_FOLDS[kind] as unknown as {
        evolve: (s: unknown, e: Event) => unknown;
        initialState: () => unknown;
      };
      return { key: { kind, id }, state: events.reduce(fold.evolve, fold.initialState()) };
    }),
  );
}

const settings: PoolSettings = {
  name: 'sales',
  namingPattern: 'sales-{n:fixed=2}',
  maxMachines: 2,
  spareMachines: 1,
  provisioning: 'on-demand',
  assignment: 'floating',
};
const imageTask = '0190f3a0-0000-7000-8000-00000000e001';
const group = { kind: 'group' as const, group: 'ds-01' };

const pool = (ws: Workspace) => ws.pool(poolId) as { status: 'present' } & ExistingPool;
const vmOf = (ws: Workspace, vmId: string) => ws.vm(vmId) as { status: 'present' } & ExistingVm;

/** The events the decisions so far wrote on a stream, in order. */
const eventsOn = (ws: Workspace, kind: StreamKind, id: string) =>
  ws.changes().find(({ key }) => key.kind === kind && key.id === id)?.events ?? [];
/** An event of this type whose data holds (at least) these fields. */
const event = (type: string, data: object = {}) =>
  expect.objectContaining({ type, data: expect.objectContaining(data) });
const typesOn = (ws: Workspace, kind: StreamKind, id: string) =>
  eventsOn(ws, kind, id).map((e) => e.type);

/** A worker takes the task up and reports this outcome. */
function workerDoes(ws: Workspace, taskId: string, outcome: JobOutcome, ids: IdSource) {
  ws.decideTask({ type: 'StartTask', data: { taskId, workerId: 'w1' } });
  completeJob(ws, { taskId, attempt: 1, workerId: 'w1', outcome }, ids);
}

const oneSite = { hostIds: [hostId], datastoreIds: [datastoreId] };

/** Creates the pool of the golden image's snapshot where asked. */
function createPoolIn(
  ws: Workspace,
  ids: IdSource,
  options: Partial<PoolSettings> = {},
  sites = oneSite,
) {
  createPool(
    ws,
    {
      poolId,
      taskId: imageTask,
      settings: { ...settings, ...options },
      goldenVmId,
      snapshotId,
      ...sites,
      placement: group,
    },
    ids,
  );
}

function builtPool(options: Partial<PoolSettings> = {}, sites = oneSite) {
  const ws = world();
  const ids = numberedIds();
  createPoolIn(ws, ids, options, sites);
  imageBuilt(ws, imageTask, ids);
  return { ws, ids, image: pool(ws).image };
}

/** A worker builds the image the task asks for (a pool's first, or a pushed one). */
function imageBuilt(ws: Workspace, taskId: string, ids: IdSource) {
  const task = ws.task(taskId);
  if (task.status === 'absent' || task.job.kind !== 'pool-image') throw new Error('no image task');
  const { job } = task;
  const disks = (vmId: string) =>
    vmOf(ws, vmId).disks.map((d) => ({
      diskId: d.diskId,
      layerId: `${d.diskId}-top`,
      allocatedBytes: 0,
    }));
  workerDoes(
    ws,
    taskId,
    {
      kind: 'pool-image',
      template: disks(job.templateVmId),
      replicas: job.replicas.map((replica) => disks(replica.replicaVmId)),
      parents: job.parents.map((parent) => ({
        disks: disks(parent.parentVmId),
        exports: parent.diskIds.map((id) => exported(id)),
        memoryImage: exported(parent.memory.imageId),
      })),
      workerId: 'w1',
    },
    ids,
  );
}

/** The fork tasks queued so far that no worker has done yet. */
function pendingForks(ws: Workspace) {
  return ws
    .changes()
    .filter(
      ({ key, events }) =>
        key.kind === 'task' &&
        events.some((e) => e.type === 'TaskQueued') &&
        !events.some((e) => e.type === 'TaskSucceeded' || e.type === 'TaskFailed'),
    )
    .map(({ key }) => ws.task(key.id))
    .filter((task) => task.status === 'queued' && task.job.kind === 'fork');
}

function forkDone(ws: Workspace, ids: IdSource) {
  for (const task of pendingForks(ws)) {
    if (task.status === 'absent' || task.job.kind !== 'fork') continue;
    const job = task.job;
    workerDoes(
      ws,
      task.taskId,
      {
        kind: 'fork',
        disks: job.disks.map((d) => ({
          diskId: d.diskId,
          layerId: `${d.diskId}-overlay`,
          allocatedBytes: 0,
        })),
        workerId: 'w1',
        exports: job.disks.map((d) => exported(d.diskId)),
        memoryImage: exported(job.memoryImage.imageId),
        parentExports: [],
      },
      ids,
    );
  }
}

describe('Instant-clone chain', () => {
  const spec = workflowSpecification();

  it('refuses a pool with every reason: hardware the host cannot run, a datastore too small for the replica', () => {
    spec
      .given(...worldStreams({ maxHardwareVersion: 'vmx-17', capacityBytes: 4 * GiB }))
      .when((ws, ids) => createPoolIn(ws, ids))
      .thenThrows('POOL.REFUSED', [
        'DATASTORE.CAPACITY_EXCEEDED',
        'DATASTORE.OVERCOMMIT_EXCEEDED',
        'HOST.HARDWARE_VERSION_UNSUPPORTED',
      ]);
  });

  it('builds internal template, replica and running parent, then forks the spares from the parent', () => {
    const { ws, ids, image } = builtPool();
    const templateVmId = image.templateVmId;
    const replicaVmId = image.replicas[0].replicaVmId;
    const parentVmId = image.parents[0].parentVmId;
    // Internal template: made (ready), nothing since.
    expect(eventsOn(ws, 'vm', templateVmId)).toEqual([
      event('VmCreated', { role: 'internal-template' }),
      event('VmCloned'),
    ]);
    // Replica: its parent stands on it.
    expect(eventsOn(ws, 'vm', replicaVmId)).toEqual([
      event('VmCreated', { role: 'replica' }),
      event('VmCloned'),
      event('VmLinkedCloneAttached', { dependantVmId: parentVmId }),
    ]);
    // Parent: powered on, held by w1 (a spare is being forked from it).
    expect(eventsOn(ws, 'vm', parentVmId)).toEqual([
      event('VmCreated', { role: 'parent' }),
      event('VmCloned'),
      event('VmPowerChangeRequested', { to: 'poweredOn' }),
      event('VmPoweredOn', { workerId: 'w1' }),
      event('VmForkStarted'),
    ]);
    // The template stands on the golden image.
    expect(eventsOn(ws, 'vm', goldenVmId)).toEqual([
      event('VmBeingCloned', { targetVmId: templateVmId, linked: true }),
      event('VmCloneFinished', { targetVmId: templateVmId, outcome: 'succeeded', linked: true }),
    ]);
    // The image is published and one spare, sales-01, is being forked.
    const poolEvents = eventsOn(ws, 'pool', poolId);
    expect(poolEvents).toContainEqual(event('PoolImagePublished'));
    expect(poolEvents.filter((e) => e.type.startsWith('PoolMachine'))).toEqual([
      event('PoolMachineRequested', { name: 'sales-01', userId: null }),
    ]);
    const [fork] = pendingForks(ws);
    if (fork.status === 'absent') throw new Error('no fork');
    expect(eventsOn(ws, 'task', fork.taskId)).toEqual([
      event('TaskQueued', {
        placement: { kind: 'worker', workerId: 'w1' },
        job: expect.objectContaining({ kind: 'fork', replicaVmId, poolId }),
      }),
    ]);

    forkDone(ws, ids);
    const cloneVmId = pool(ws).machines[0].vmId;
    // The instant clone: made and running (ready), forked from the parent, standing on the replica.
    expect(eventsOn(ws, 'vm', cloneVmId)).toEqual([
      event('VmCreated', {
        role: 'instant-clone',
        origin: { kind: 'fork', parentVmId, replicaVmId, poolId },
      }),
      event('VmForked', { workerId: 'w1' }),
    ]);
    const macOf = (vmId: string) =>
      (eventsOn(ws, 'vm', vmId)[0].data as { nics: { macAddress: string }[] }).nics[0].macAddress;
    expect(macOf(cloneVmId)).not.toBe(macOf(parentVmId));
    // Linked to the replica, not to the parent: the parent's fork ended, nothing stands on it.
    expect(eventsOn(ws, 'vm', replicaVmId)).toContainEqual(
      event('VmLinkedCloneAttached', { dependantVmId: cloneVmId }),
    );
    expect(typesOn(ws, 'vm', parentVmId).slice(-2)).toEqual(['VmForkStarted', 'VmForkFinished']);
    expect(typesOn(ws, 'vm', parentVmId)).not.toContain('VmLinkedCloneAttached');
  });

  it('hands a spare to a user at once and forks a new spare; at the maximum it refuses', () => {
    const { ws, ids } = builtPool();
    forkDone(ws, ids);
    const spare = pool(ws).machines[0];
    const given = entitle(
      ws,
      { poolId, userId: 'ann', taskId: '0190f3a0-0000-7000-8000-00000000e002' },
      ids,
    );
    expect(given).toEqual({ vmId: spare.vmId, name: 'sales-01', status: 'ready', taskId: null });
    // Ann has the ready spare sales-01; a new spare, sales-02, is being forked.
    expect(
      eventsOn(ws, 'pool', poolId).filter((e) => /^Pool(Machine|Desktop)/.test(e.type)),
    ).toEqual([
      event('PoolMachineRequested', { name: 'sales-01', userId: null }),
      event('PoolMachineReady', { vmId: spare.vmId }),
      event('PoolDesktopAssigned', { vmId: spare.vmId, userId: 'ann' }),
      event('PoolMachineRequested', { name: 'sales-02', userId: null }),
    ]);
    // The same user asking again gets the same desktop, nothing new happens.
    expect(
      entitle(ws, { poolId, userId: 'ann', taskId: '0190f3a0-0000-7000-8000-00000000e003' }, ids)
        .vmId,
    ).toBe(spare.vmId);
    // Bob gets the spare being forked; Cy finds the pool full.
    expect(
      entitle(ws, { poolId, userId: 'bob', taskId: '0190f3a0-0000-7000-8000-00000000e004' }, ids),
    ).toMatchObject({ name: 'sales-02', status: 'provisioning' });
    expect(() =>
      entitle(ws, { poolId, userId: 'cy', taskId: '0190f3a0-0000-7000-8000-00000000e005' }, ids),
    ).toThrow(expect.objectContaining({ code: 'POOL.AT_MAXIMUM' }));
  });

  it('deletes a floating desktop at logoff on the worker holding it, then forks a spare again', () => {
    const { ws, ids } = builtPool();
    forkDone(ws, ids);
    const { vmId } = entitle(
      ws,
      { poolId, userId: 'ann', taskId: '0190f3a0-0000-7000-8000-00000000e002' },
      ids,
    );
    forkDone(ws, ids);
    const logoffTask = '0190f3a0-0000-7000-8000-00000000e006';
    const poolEventsBefore = eventsOn(ws, 'pool', poolId).length;
    logOff(ws, { poolId, vmId, taskId: logoffTask }, ids);
    expect(eventsOn(ws, 'task', logoffTask)).toEqual([
      event('TaskQueued', {
        placement: { kind: 'worker', workerId: 'w1' },
        job: expect.objectContaining({ kind: 'delete-vm', vmId, live: true, poolId }),
      }),
    ]);
    workerDoes(ws, logoffTask, { kind: 'delete-vm' }, ids);
    expect(typesOn(ws, 'vm', vmId).slice(-1)).toEqual(['VmDeleted']);
    // Ann's desktop is gone; the spare forked when she took hers is the pool's one machine left.
    expect(eventsOn(ws, 'pool', poolId).slice(poolEventsBefore)).toEqual([
      event('PoolDesktopLoggedOff', { vmId, userId: 'ann', then: 'delete' }),
      event('PoolVmRemovalRequested', { vmId }),
      event('PoolVmRemoved', { vmId }),
    ]);
  });

  it('tears a pool down in order and lets go of the golden image', () => {
    const { ws, ids, image } = builtPool();
    forkDone(ws, ids);
    deletePool(ws, { poolId }, ids);
    const deletions = () =>
      ws
        .changes()
        .filter(({ key }) => key.kind === 'task')
        .map(({ key }) => ws.task(key.id))
        .filter((task) => task.status === 'queued' && task.job.kind === 'delete-vm');
    const order: string[] = [];
    for (let round = 0; round < 5 && deletions().length > 0; round++) {
      for (const task of deletions()) {
        if (task.status === 'absent' || task.job.kind !== 'delete-vm') continue;
        order.push(vmOf(ws, task.job.vmId).role);
        workerDoes(ws, task.taskId, { kind: 'delete-vm' }, ids);
      }
    }
    expect(order).toEqual(['instant-clone', 'parent', 'replica', 'internal-template']);
    expect(typesOn(ws, 'pool', poolId).slice(-1)).toEqual(['PoolDeleted']);
    // The golden image lets its internal template go: nothing stands on it any more.
    expect(eventsOn(ws, 'vm', goldenVmId).slice(-1)).toEqual([
      event('VmLinkedCloneReleased', { dependantVmId: image.templateVmId }),
    ]);
  });

  it('stands on several hosts and datastores: a replica per datastore, a parent per host and datastore, machines spread over them', () => {
    const sites = { hostIds: [hostId, hostId2], datastoreIds: [datastoreId, datastoreId2] };
    const { ws, ids } = builtPool({ spareMachines: 4, maxMachines: 8 }, sites);
    // The image the pool was created with: a replica per datastore, a parent per host and datastore.
    const [created] = eventsOn(ws, 'pool', poolId);
    expect(created).toEqual(event('PoolCreated'));
    const { image } = created.data as { image: PoolImage };
    expect(image.replicas.map((r) => r.datastoreId)).toEqual([datastoreId, datastoreId2]);
    expect(image.parents.map((p) => [p.hostId, p.datastoreId])).toEqual([
      [hostId, datastoreId],
      [hostId, datastoreId2],
      [hostId2, datastoreId],
      [hostId2, datastoreId2],
    ]);
    // Each replica stands on its datastore and carries the parents of that datastore.
    for (const replica of image.replicas) {
      const onIt = image.parents.filter((p) => p.datastoreId === replica.datastoreId);
      expect(eventsOn(ws, 'vm', replica.replicaVmId)).toEqual([
        event('VmCreated', { role: 'replica', datastoreId: replica.datastoreId }),
        event('VmCloned'),
        ...onIt.map((p) => event('VmLinkedCloneAttached', { dependantVmId: p.parentVmId })),
      ]);
    }
    // Each parent runs where it was placed.
    for (const parent of image.parents) {
      expect(eventsOn(ws, 'vm', parent.parentVmId)).toEqual([
        event('VmCreated', {
          role: 'parent',
          hostId: parent.hostId,
          datastoreId: parent.datastoreId,
        }),
        event('VmCloned'),
        event('VmPowerChangeRequested', { to: 'poweredOn' }),
        event('VmPoweredOn'),
        event('VmForkStarted'),
      ]);
    }
    // Each datastore holds its replica's full copy: both reserved it, and released nothing yet.
    const reservations = (id: string) =>
      eventsOn(ws, 'datastore', id).map((e) => {
        expect(e.type).toBe('DatastoreSpaceReserved');
        return (e.data as { claims: { diskId: string; physicalBytes: number }[] }).claims;
      });
    const reservedBytes = (id: string) =>
      reservations(id)
        .flat()
        .reduce((sum, claim) => sum + claim.physicalBytes, 0);
    expect(eventsOn(ws, 'datastore', datastoreId2)[0]).toEqual(
      event('DatastoreSpaceReserved', { taskId: imageTask }),
    );
    expect(reservedBytes(datastoreId2)).toBeGreaterThan(6 * GiB);
    expect(reservedBytes(datastoreId)).toBeGreaterThan(reservedBytes(datastoreId2));

    // The four spares fork one from each parent, where that parent stands.
    const forkedFrom = pendingForks(ws).map((task) => {
      const [queued, ...since] = eventsOn(ws, 'task', task.status === 'absent' ? '' : task.taskId);
      expect(since).toEqual([]);
      expect(queued).toEqual(
        event('TaskQueued', { job: expect.objectContaining({ kind: 'fork' }) }),
      );
      return (queued.data as { job: { parentVmId: string } }).job.parentVmId;
    });
    expect(forkedFrom.sort()).toEqual(image.parents.map((p) => p.parentVmId).sort());
    forkDone(ws, ids);
    const machineEvents = eventsOn(ws, 'pool', poolId).filter((e) =>
      e.type.startsWith('PoolMachine'),
    );
    expect(machineEvents.map((e) => e.type)).toEqual([
      ...Array<string>(4).fill('PoolMachineRequested'),
      ...Array<string>(4).fill('PoolMachineReady'),
    ]);
    for (const requested of machineEvents.filter((e) => e.type === 'PoolMachineRequested')) {
      const { vmId, parentVmId } = requested.data as { vmId: string; parentVmId: string };
      const parent = image.parents.find((p) => p.parentVmId === parentVmId)!;
      const replica = image.replicas.find((r) => r.datastoreId === parent.datastoreId)!;
      expect(eventsOn(ws, 'vm', vmId)).toEqual([
        event('VmCreated', {
          role: 'instant-clone',
          hostId: parent.hostId,
          datastoreId: parent.datastoreId,
          origin: expect.objectContaining({
            parentVmId: parent.parentVmId,
            replicaVmId: replica.replicaVmId,
          }),
        }),
        event('VmForked'),
      ]);
    }

    deletePool(ws, { poolId }, ids);
    const roleOf = (vmId: string) =>
      (eventsOn(ws, 'vm', vmId).find((e) => e.type === 'VmCreated')!.data as { role: string }).role;
    const order: string[] = [];
    for (let round = 0; round < 5; round++) {
      const due = ws
        .changes()
        .filter(({ key }) => key.kind === 'task')
        .map(({ key }) => ws.task(key.id))
        .filter((task) => task.status === 'queued' && task.job.kind === 'delete-vm');
      for (const task of due) {
        if (task.status === 'absent' || task.job.kind !== 'delete-vm') continue;
        order.push(roleOf(task.job.vmId));
        workerDoes(ws, task.taskId, { kind: 'delete-vm' }, ids);
      }
    }
    expect(order).toEqual([
      ...Array<string>(4).fill('instant-clone'),
      ...Array<string>(4).fill('parent'),
      'replica',
      'replica',
      'internal-template',
    ]);
    expect(typesOn(ws, 'pool', poolId).slice(-1)).toEqual(['PoolDeleted']);
    // The second datastore got back every disk it reserved, after the last reservation.
    const datastore2 = eventsOn(ws, 'datastore', datastoreId2);
    const firstRelease = datastore2.findIndex((e) => e.type === 'DatastoreSpaceReleased');
    expect(firstRelease).toBeGreaterThan(0);
    expect(
      datastore2.slice(0, firstRelease).every((e) => e.type === 'DatastoreSpaceReserved'),
    ).toBe(true);
    expect(datastore2.slice(firstRelease).every((e) => e.type === 'DatastoreSpaceReleased')).toBe(
      true,
    );
    const diskIdsIn = (events: readonly Event[]) =>
      events
        .flatMap((e) =>
          e.type === 'DatastoreSpaceReserved'
            ? (e.data as { claims: { diskId: string }[] }).claims.map((c) => c.diskId)
            : (e.data as { diskIds: string[] }).diskIds,
        )
        .sort();
    expect(diskIdsIn(datastore2.slice(firstRelease))).toEqual(
      diskIdsIn(datastore2.slice(0, firstRelease)),
    );
  });
  it('refuses a pool on a host that cannot run the golden image once, however many datastores it spans', () => {
    spec
      .given(...worldStreams({ hostId2Version: 'vmx-17' }))
      .when((ws, ids) =>
        createPoolIn(
          ws,
          ids,
          {},
          {
            hostIds: [hostId, hostId2],
            datastoreIds: [datastoreId, datastoreId2],
          },
        ),
      )
      .thenThrows('POOL.REFUSED', ['HOST.HARDWARE_VERSION_UNSUPPORTED']);
  });

  it('lets a failed fork go without forking again at once', () => {
    const { ws, ids } = builtPool();
    const [fork] = pendingForks(ws);
    if (fork.status === 'absent' || fork.job.kind !== 'fork') throw new Error('no fork');
    ws.decideTask({ type: 'StartTask', data: { taskId: fork.taskId, workerId: 'w1' } });
    abandonJob(
      ws,
      { taskId: fork.taskId, attempt: 1, cancelled: false, code: 'DISK.FULL', message: 'full' },
      ids,
    );
    const { targetVmId } = fork.job;
    expect(eventsOn(ws, 'vm', targetVmId)).toEqual([
      event('VmCreated'),
      event('VmProvisioningFailed', { code: 'DISK.FULL' }),
    ]);
    // The pool lets the machine go and forks no other.
    expect(eventsOn(ws, 'pool', poolId).filter((e) => e.type.startsWith('PoolMachine'))).toEqual([
      event('PoolMachineRequested', { vmId: targetVmId }),
      event('PoolMachineFailed', { vmId: targetVmId, code: 'DISK.FULL' }),
    ]);
    expect(pendingForks(ws)).toEqual([]);
  });

  it('forks only from a running VM, never from a template', () => {
    spec
      .given(...worldStreams())
      .when((ws, ids) =>
        startFork(
          ws,
          {
            parentVmId: goldenVmId,
            vmId: 'x',
            taskId: 'y',
            name: 'c',
            poolId: null,
            operation: 'ForkInstantClone',
          },
          ids,
        ),
      )
      .thenThrows('FORK.SOURCE_POWERED_OFF');
  });

  const pushTask = '0190f3a0-0000-7000-8000-00000000e101';
  const push = (ws: Workspace, ids: IdSource, rollout: 'at-logoff' | 'immediate' = 'at-logoff') =>
    pushImage(
      ws,
      { poolId, taskId: pushTask, goldenVmId, snapshotId, rollout, placement: group },
      ids,
    );

  it('pushes an image; cancelled, the pool keeps its image and the space comes back', () => {
    const { ws, ids } = builtPool();
    forkDone(ws, ids);
    const since = (kind: StreamKind, id: string) => {
      const before = eventsOn(ws, kind, id).length;
      return () => eventsOn(ws, kind, id).slice(before);
    };
    const poolSince = since('pool', poolId);
    const datastoreSince = since('datastore', datastoreId);
    push(ws, ids);
    expect(eventsOn(ws, 'task', pushTask)).toEqual([
      event('TaskQueued', {
        operation: 'PushImage',
        target: { type: 'pool', id: poolId },
        job: expect.objectContaining({ kind: 'pool-image', poolId }),
      }),
    ]);
    // The new template, replica and parent claim their space.
    const [reserved] = datastoreSince();
    expect(reserved).toEqual(event('DatastoreSpaceReserved', { taskId: pushTask }));
    const pushedDisks = (reserved.data as { claims: { diskId: string }[] }).claims.map(
      (c) => c.diskId,
    );
    expect(pushedDisks).toHaveLength(3);
    expect(() => push(ws, ids)).toThrow(expect.objectContaining({ code: 'POOL.PUSH_IN_PROGRESS' }));
    ws.decideTask({ type: 'StartTask', data: { taskId: pushTask, workerId: 'w1' } });
    abandonJob(
      ws,
      { taskId: pushTask, attempt: 1, cancelled: true, code: 'TASK.CANCELLED', message: 'by ann' },
      ids,
    );
    // The pool keeps its image (no other published, none removed), and the space comes back.
    expect(poolSince()).toEqual([
      event('PoolImagePushStarted', { image: expect.objectContaining({ taskId: pushTask }) }),
      event('PoolImagePushFailed', { taskId: pushTask, code: 'TASK.CANCELLED' }),
    ]);
    expect(datastoreSince()).toEqual([
      reserved,
      event('DatastoreSpaceReleased', {
        diskIds: pushedDisks,
        reason: `task ${pushTask} was cancelled`,
      }),
    ]);
    expect(() =>
      rollbackImage(ws, { poolId, taskId: pushTask, rollout: 'at-logoff', placement: group }, ids),
    ).toThrow(expect.objectContaining({ code: 'POOL.NO_PREVIOUS_IMAGE' }));
  });

  it('moves spares to a pushed image at once and a dedicated desktop at logoff, same name and MAC', () => {
    const { ws, ids } = builtPool({ assignment: 'dedicated', maxMachines: 3 });
    const [created] = eventsOn(ws, 'pool', poolId);
    const { image } = created.data as { image: PoolImage };
    forkDone(ws, ids);
    const ann = entitle(ws, { poolId, userId: 'ann', taskId: ids.id() }, ids);
    forkDone(ws, ids);
    const vmCreated = (vmId: string) =>
      eventsOn(ws, 'vm', vmId)[0].data as { nics: { macAddress: string }[] };
    const annMac = vmCreated(ann.vmId).nics[0].macAddress;
    const before = eventsOn(ws, 'pool', poolId).length;
    // The image before the push is the one the pool was created with: no other was pushed.
    expect(typesOn(ws, 'pool', poolId)).not.toContain('PoolImagePushed');
    // The spare forked after ann took hers, on the first image.
    const [oldSpare] = eventsOn(ws, 'pool', poolId)
      .filter((e) => e.type === 'PoolMachineRequested')
      .map((e) => (e.data as { vmId: string }).vmId)
      .filter((vmId) => vmId !== ann.vmId);
    const poolSince = () => eventsOn(ws, 'pool', poolId).slice(before);
    push(ws, ids);
    imageBuilt(ws, pushTask, ids);
    // The pushed image is published (the first one kept as the previous); a spare of the new image
    // is forked from its parent; the old parent is removed.
    const [started] = poolSince();
    expect(started).toEqual(
      event('PoolImagePushStarted', { image: expect.objectContaining({ taskId: pushTask }) }),
    );
    const { image: pushed } = started.data as { image: PoolImage };
    expect(pushed).not.toEqual(image);
    expect(poolSince()).toEqual([
      started,
      event('PoolImagePushed', { taskId: pushTask }),
      event('PoolVmRemovalRequested', { vmId: image.parents[0].parentVmId }),
      event('PoolMachineRequested', { userId: null, parentVmId: pushed.parents[0].parentVmId }),
    ]);
    expect(
      pendingForks(ws).map(
        (t) => t.status !== 'absent' && t.job.kind === 'fork' && t.job.parentVmId,
      ),
    ).toEqual([pushed.parents[0].parentVmId]);
    expect(typesOn(ws, 'vm', image.parents[0].parentVmId).slice(-1)).toEqual([
      'VmDeletionRequested',
    ]);
    forkDone(ws, ids);
    // With the new spare running, the old one goes.
    const newSpare = (poolSince()[3].data as { vmId: string }).vmId;
    expect(poolSince().slice(4)).toEqual([
      event('PoolMachineReady', { vmId: newSpare }),
      event('PoolVmRemovalRequested', { vmId: oldSpare }),
    ]);

    logOff(ws, { poolId, vmId: ann.vmId, taskId: ids.id() }, ids);
    // Ann's desktop is made again on the new image (requested after it was published), under
    // her name, and is being forked.
    expect(poolSince().slice(6)).toEqual([
      event('PoolDesktopLoggedOff', { vmId: ann.vmId, userId: 'ann', then: 'refresh' }),
      event('PoolVmRemovalRequested', { vmId: ann.vmId }),
      event('PoolMachineRequested', {
        userId: 'ann',
        name: ann.name,
        parentVmId: pushed.parents[0].parentVmId,
      }),
    ]);
    const annNow = (poolSince()[8].data as { vmId: string }).vmId;
    expect(eventsOn(ws, 'vm', annNow)).toEqual([
      event('VmCreated', {
        name: ann.name,
        nics: [expect.objectContaining({ macAddress: annMac })],
        origin: expect.objectContaining({
          parentVmId: pushed.parents[0].parentVmId,
          replicaVmId: pushed.replicas[0].replicaVmId,
        }),
      }),
    ]);
    expect(typesOn(ws, 'vm', ann.vmId).slice(-1)).toEqual(['VmDeletionRequested']);
  });

  it('starts a scheduled push at its time, once; one that cannot start is dropped with the reason', () => {
    const { ws, ids } = builtPool();
    forkDone(ws, ids);
    const before = eventsOn(ws, 'pool', poolId).length;
    const poolSince = () => eventsOn(ws, 'pool', poolId).slice(before);
    const startAt = '2026-11-27T02:00:00.000Z';
    schedulePush(ws, { poolId, goldenVmId, snapshotId, rollout: 'at-logoff', startAt });
    expect(poolSince()).toEqual([
      event('PoolImagePushScheduled', { snapshotId, rollout: 'at-logoff', startAt }),
    ]);
    expect(() => push(ws, ids)).toThrow(expect.objectContaining({ code: 'POOL.PUSH_SCHEDULED' }));
    expect(() =>
      schedulePush(ws, {
        poolId,
        goldenVmId,
        snapshotId: goldenVmId,
        rollout: 'at-logoff',
        startAt,
      }),
    ).toThrow(expect.objectContaining({ code: 'SNAPSHOT.NOT_FOUND' }));
    const turn = (now: string, placement: typeof group | Error = group) =>
      startScheduledPush(ws, { poolId, taskId: pushTask, now, placement }, ids);
    // Before its time: nothing starts.
    expect(turn('2026-11-27T01:59:59.000Z')).toBe(false);
    expect(poolSince()).toHaveLength(1);
    expect(eventsOn(ws, 'task', pushTask)).toEqual([]);
    // At its time: the push starts (which ends the schedule) as a queued task.
    expect(turn(startAt)).toBe(true);
    expect(poolSince().slice(1)).toEqual([event('PoolImagePushStarted', { rollout: 'at-logoff' })]);
    expect(eventsOn(ws, 'task', pushTask)).toEqual([
      event('TaskQueued', { operation: 'PushImage' }),
    ]);
    // Once only.
    expect(turn(startAt)).toBe(false);
    expect(poolSince()).toHaveLength(2);
    expect(eventsOn(ws, 'task', pushTask)).toHaveLength(1);

    const other = builtPool();
    const otherBefore = eventsOn(other.ws, 'pool', poolId).length;
    schedulePush(other.ws, { poolId, goldenVmId, snapshotId, rollout: 'immediate', startAt });
    const noWorker = new (class extends Error {})('no worker');
    expect(() =>
      startScheduledPush(
        other.ws,
        { poolId, taskId: pushTask, now: startAt, placement: noWorker },
        other.ids,
      ),
    ).toThrow('no worker');
    // A datastore too small for the new replica: refused, nothing half-made, the schedule dropped.
    other.ws.decideDatastore({
      type: 'ReserveSpace',
      data: {
        datastoreId,
        taskId: '0190f3a0-0000-7000-8000-00000000e0ff',
        claims: [{ diskId: 'filler', physicalBytes: 1015 * GiB, provisionedBytes: 1015 * GiB }],
      },
    });
    const changesBefore = other.ws.changes().map((c) => [c.key.id, c.events.length]);
    expect(
      startScheduledPush(
        other.ws,
        { poolId, taskId: pushTask, now: startAt, placement: group },
        other.ids,
      ),
    ).toBe(false);
    // Only the pool's stream got an event: the schedule dropped with the reason, no push started.
    expect(eventsOn(other.ws, 'pool', poolId).slice(otherBefore)).toEqual([
      event('PoolImagePushScheduled', { rollout: 'immediate', startAt }),
      event('PoolImagePushUnscheduled', { poolId, code: 'POOL.REFUSED' }),
    ]);
    expect(
      other.ws
        .changes()
        .filter((c) => c.key.id !== poolId)
        .map((c) => [c.key.id, c.events.length]),
    ).toEqual(changesBefore.filter(([id]) => id !== poolId));
    expect(other.ws.changes().map((c) => c.key.id)).not.toContain(pushTask);
  });

  it('recovers a pool whose host is gone: rebuilds its image elsewhere, then recreates each desktop under its name, MAC and user', () => {
    const { ws, ids } = builtPool({ assignment: 'dedicated', maxMachines: 3 });
    const { image } = eventsOn(ws, 'pool', poolId)[0].data as { image: PoolImage };
    const parentVmId = image.parents[0].parentVmId;
    forkDone(ws, ids);
    const ann = entitle(ws, { poolId, userId: 'ann', taskId: ids.id() }, ids);
    // The spare forked after ann took hers is still under way on w1 when w1 dies.
    const [inFlight] = pendingForks(ws);
    if (inFlight.status === 'absent' || inFlight.job.kind !== 'fork') {
      throw new Error('no fork under way');
    }
    // Ann's desktop runs on w1: its memory image is there.
    const annForked = eventsOn(ws, 'vm', ann.vmId).find((e) => e.type === 'VmForked')!;
    const annData = annForked.data as {
      workerId: string;
      memoryImage: { imageId: string };
    };
    expect(annData.workerId).toBe('w1');
    const annMemoryImageId = annData.memoryImage.imageId;
    const annMac = (eventsOn(ws, 'vm', ann.vmId)[0].data as { nics: { macAddress: string }[] })
      .nics[0].macAddress;
    const since = (kind: StreamKind, id: string) => {
      const before = eventsOn(ws, kind, id).length;
      return () => eventsOn(ws, kind, id).slice(before);
    };
    const poolSince = since('pool', poolId);
    const parentSince = since('vm', parentVmId);
    const annSince = since('vm', ann.vmId);
    const recover = (lostWorkers: string[]) =>
      recoverPool(ws, { poolId, taskId: pushTask, lostWorkers, placement: group }, ids);
    expect(() => recover(['w9'])).toThrow(
      expect.objectContaining({ code: 'POOL.NOTHING_TO_RECOVER' }),
    );

    recover(['w1']);
    // The parent (its fork under way ended) and ann's desktop went with their host: powered off,
    // nothing live, ann's memory image stranded on the lost worker.
    expect(parentSince()).toEqual([
      event('VmForkFinished', { targetVmId: inFlight.job.targetVmId, outcome: 'failed' }),
      event('VmHostLost', { workerId: 'w1' }),
    ]);
    expect(annSince()).toEqual([
      event('VmHostLost', { workerId: 'w1', memoryImageId: annMemoryImageId }),
    ]);
    // The fork w1 held fails as w1 would have reported it; its machine is gone from the pool,
    // ann's is lost; the image is built again.
    const failed = ws
      .changes()
      .find(({ key }) => key.id === inFlight.taskId)!
      .events.find((e) => e.type === 'TaskFailed');
    expect(failed?.data).toMatchObject({ code: 'WORKER.LOST' });
    expect(poolSince()).toEqual([
      event('PoolMachineFailed', { vmId: inFlight.job.targetVmId, code: 'WORKER.LOST' }),
      event('PoolMachinesLost', { vmIds: [ann.vmId], workerIds: ['w1'] }),
      event('PoolImagePushStarted', { image: expect.objectContaining({ taskId: pushTask }) }),
    ]);
    // Nothing forks from the lost parent: the image is built again first.
    expect(pendingForks(ws)).toEqual([]);
    expect(() => entitle(ws, { poolId, userId: 'bob', taskId: ids.id() }, ids)).toThrow(
      expect.objectContaining({ code: 'POOL.PARENT_NOT_RUNNING' }),
    );
    expect(eventsOn(ws, 'task', pushTask)).toEqual([
      event('TaskQueued', { operation: 'PushImage', placement: group }),
    ]);
    const { image: rebuilt } = poolSince()[2].data as { image: PoolImage };

    imageBuilt(ws, pushTask, ids);
    // The rebuilt image is published; the lost parent and desktop are removed, and ann's desktop
    // is requested again under her name on the rebuilt image's parent (being forked).
    const afterBuild = poolSince().slice(3);
    expect(afterBuild).toEqual([
      event('PoolImagePushed', { taskId: pushTask }),
      event('PoolVmRemovalRequested', { vmId: parentVmId }),
      event('PoolVmRemovalRequested', { vmId: ann.vmId }),
      event('PoolMachineRequested', {
        userId: 'ann',
        name: ann.name,
        parentVmId: rebuilt.parents[0].parentVmId,
      }),
      event('PoolMachineRequested', { userId: null }),
    ]);
    const annNow = (afterBuild[3].data as { vmId: string }).vmId;
    expect(eventsOn(ws, 'vm', annNow)).toEqual([
      event('VmCreated', {
        name: ann.name,
        nics: [expect.objectContaining({ macAddress: annMac })],
        origin: expect.objectContaining({ parentVmId: rebuilt.parents[0].parentVmId }),
      }),
    ]);
    // The lost VMs are deleted by a worker of their datastore, their files only.
    const { taskId: removalTask } = afterBuild[2].data as { taskId: string };
    expect(eventsOn(ws, 'task', removalTask)).toEqual([
      event('TaskQueued', {
        placement: group,
        job: expect.objectContaining({
          kind: 'delete-vm',
          vmId: ann.vmId,
          live: false,
          memoryImageId: annMemoryImageId,
        }),
      }),
    ]);
  });
});

describe('a pool decides its forks in batches', () => {
  /**
   * How many of each machine event the pool's stream got: a machine requested and not (yet)
   * ready is being forked. Every type the stream got is counted, so no machine failed or went.
   */
  const machineTally = (ws: Workspace) => {
    const tally: Record<string, number> = {};
    for (const type of typesOn(ws, 'pool', poolId).filter((t) => /^Pool(Machine|Vm)/.test(t))) {
      tally[type] = (tally[type] ?? 0) + 1;
    }
    return tally;
  };

  it('forks an up-front pool a batch at a time, the next as earlier ones finish, up to its maximum', () => {
    const { ws, ids } = builtPool({
      provisioning: 'up-front',
      maxMachines: 50,
      spareMachines: 0,
      namingPattern: 'sales-{n}',
    });
    expect(machineTally(ws)).toEqual({ PoolMachineRequested: POOL_FORKS_UNDER_WAY });
    expect(pendingForks(ws)).toHaveLength(POOL_FORKS_UNDER_WAY);
    forkDone(ws, ids);
    // 20 ready, 20 being forked.
    expect(machineTally(ws)).toEqual({ PoolMachineRequested: 40, PoolMachineReady: 20 });
    forkDone(ws, ids);
    // 40 ready, 10 being forked.
    expect(machineTally(ws)).toEqual({ PoolMachineRequested: 50, PoolMachineReady: 40 });
    forkDone(ws, ids);
    // All 50 ready, none being forked.
    expect(machineTally(ws)).toEqual({ PoolMachineRequested: 50, PoolMachineReady: 50 });
    expect(pendingForks(ws)).toEqual([]);
  });

  it('keeps many spares a batch at a time too', () => {
    const { ws, ids } = builtPool({
      maxMachines: 60,
      spareMachines: 30,
      namingPattern: 'sales-{n}',
    });
    expect(machineTally(ws)).toEqual({ PoolMachineRequested: POOL_FORKS_UNDER_WAY });
    forkDone(ws, ids);
    // 20 ready, 10 being forked.
    expect(machineTally(ws)).toEqual({ PoolMachineRequested: 30, PoolMachineReady: 20 });
    forkDone(ws, ids);
    // 30 ready, none being forked.
    expect(machineTally(ws)).toEqual({ PoolMachineRequested: 30, PoolMachineReady: 30 });
  });
});
