import {
  type PoolEvent,
  PoolCreatedData,
  PoolImagePushStartedData,
  PoolMachineRequestedData,
  type PoolState,
  TaskQueuedData,
  poolDecider,
} from '@dolly/domain';
import { FormatRegistry, type Static, TypeRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { numberedId, poolImageV1 } from '@dolly/testing/pure';
import {
  PoolCreatedDataV1,
  type PoolImageV1,
  PoolImagePushStartedDataV1,
  PoolMachineRequestedDataV1,
  TaskQueuedDataV1,
  TaskQueuedDataV2,
  TaskQueuedDataV4,
} from './earlier-versions';
import { currentSchemaVersion, upcastToCurrent } from './event-catalog';

// Value.Check knows neither the uuid format (Ajv has it from ajv-formats) nor the Unsafe kind that
// StringEnum makes (plain JSON Schema: a string of an enum): teach it both, as JSON Schema reads them.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (value) => UUID.test(value));
if (!TypeRegistry.Has('Unsafe'))
  TypeRegistry.Set<{ type?: string; enum?: unknown[] }>(
    'Unsafe',
    (schema, value) =>
      (schema.type !== 'string' || typeof value === 'string') &&
      (schema.enum === undefined || schema.enum.includes(value)),
  );

const id = numberedId;
const poolId = id(0xf1);
const hostId = id(0xa1);
const datastoreId = id(0xd1);
const settings = {
  name: 'sales',
  namingPattern: 'sales-{n:fixed=3}',
  maxMachines: 3,
  spareMachines: 1,
  provisioning: 'on-demand',
  assignment: 'floating',
} as const;
const imageV1 = (n: number) => poolImageV1(n, { hostId, datastoreId });
const image = imageV1(1);

const createdV1 = { poolId, settings, image };
const pushStartedV1 = { poolId, image: imageV1(2), rollout: 'at-logoff' };
const machineRequestedV1 = {
  poolId,
  vmId: id(0x1001),
  taskId: id(0x2001),
  name: 'sales-001',
  number: 1,
  userId: null,
};

/** The image as v2 says it: one replica and one parent, with the v1 ids. */
const asV2 = (v1: PoolImageV1) => ({
  goldenVmId: v1.goldenVmId,
  snapshotId: v1.snapshotId,
  templateVmId: v1.templateVmId,
  replicas: [{ datastoreId: v1.datastoreId, replicaVmId: v1.replicaVmId }],
  parents: [{ hostId: v1.hostId, datastoreId: v1.datastoreId, parentVmId: v1.parentVmId }],
  taskId: v1.taskId,
});

describe('pool events of schema v1 read as v2', () => {
  it('checks enums and uuids (the schemas are checked for real)', () => {
    expect(Value.Check(PoolImagePushStartedDataV1, pushStartedV1)).toBe(true);
    expect(Value.Check(PoolImagePushStartedDataV1, { ...pushStartedV1, rollout: 'later' })).toBe(
      false,
    );
    expect(Value.Check(PoolImagePushStartedDataV1, { ...pushStartedV1, poolId: 'pool-1' })).toBe(
      false,
    );
  });

  it('has v2 as the current version of the pool events that changed', () => {
    expect(currentSchemaVersion('PoolCreated')).toBe(2);
    expect(currentSchemaVersion('PoolImagePushStarted')).toBe(2);
    expect(currentSchemaVersion('PoolMachineRequested')).toBe(2);
    // TaskQueued v3 (a datastore's own job: restore a quarantined layer), v4 (OVF import and
    // export) and v5 (the read models' rebuild) came after.
    expect(currentSchemaVersion('TaskQueued')).toBe(5);
  });

  it('PoolCreated v1: its one host and datastore become one replica and one parent', () => {
    expect(Value.Check(PoolCreatedDataV1, createdV1)).toBe(true);
    expect(Value.Check(PoolCreatedData, createdV1)).toBe(false);

    const current = upcastToCurrent('PoolCreated', 1, createdV1);

    expect(Value.Check(PoolCreatedData, current)).toBe(true);
    expect(current).toEqual({ poolId, settings, image: asV2(image) });
    const { replicas, parents } = (current as Static<typeof PoolCreatedData>).image;
    expect(replicas).toEqual([{ datastoreId, replicaVmId: image.replicaVmId }]);
    expect(parents).toEqual([{ hostId, datastoreId, parentVmId: image.parentVmId }]);
  });

  it('PoolCreated v2 is read as it is', () => {
    const v2 = { poolId, settings, image: asV2(image) };
    expect(upcastToCurrent('PoolCreated', 2, v2)).toBe(v2);
  });

  it('PoolImagePushStarted v1: the pushed image gets one replica and one parent', () => {
    expect(Value.Check(PoolImagePushStartedDataV1, pushStartedV1)).toBe(true);
    expect(Value.Check(PoolImagePushStartedData, pushStartedV1)).toBe(false);

    const current = upcastToCurrent('PoolImagePushStarted', 1, pushStartedV1);

    expect(Value.Check(PoolImagePushStartedData, current)).toBe(true);
    expect(current).toEqual({ poolId, rollout: 'at-logoff', image: asV2(imageV1(2)) });
  });

  it('PoolMachineRequested v1 names no parent: null', () => {
    expect(Value.Check(PoolMachineRequestedDataV1, machineRequestedV1)).toBe(true);
    expect(Value.Check(PoolMachineRequestedData, machineRequestedV1)).toBe(false);

    const current = upcastToCurrent('PoolMachineRequested', 1, machineRequestedV1);

    expect(Value.Check(PoolMachineRequestedData, current)).toBe(true);
    expect(current).toEqual({ ...machineRequestedV1, parentVmId: null });
  });
});

describe('TaskQueued v1 read as v2', () => {
  const queued = (job: unknown) => ({
    taskId: id(0x600 + 1),
    operation: 'CreatePool',
    target: { type: 'pool', id: poolId },
    job,
    placement: { kind: 'group', group: 'rack-1' },
  });
  const disks = [1, 2].map((n) => ({
    snapshotLayerId: `layer-${n}`,
    templateDiskId: id(0x7000 + n),
    replicaDiskId: id(0x8000 + n),
    parentDiskId: id(0x9000 + n),
    capacityBytes: n * 1024 ** 3,
  }));
  const parentMemory = { imageId: id(0xa000), sizeBytes: 4 * 1024 ** 3 };
  const poolImageJobV1 = {
    kind: 'pool-image',
    poolId,
    goldenVmId: image.goldenVmId,
    templateVmId: image.templateVmId,
    replicaVmId: image.replicaVmId,
    parentVmId: image.parentVmId,
    sourceDatastoreId: id(0xd2),
    datastoreId,
    disks,
    parentMemory,
  };

  it('a pool-image job builds one replica and one parent, their disks in the golden image’s order', () => {
    const v1 = queued(poolImageJobV1);
    expect(Value.Check(TaskQueuedDataV1, v1)).toBe(true);
    expect(Value.Check(TaskQueuedData, v1)).toBe(false);

    const current = upcastToCurrent('TaskQueued', 1, v1);

    expect(Value.Check(TaskQueuedData, current)).toBe(true);
    expect(current).toEqual({
      ...v1,
      job: {
        kind: 'pool-image',
        poolId,
        goldenVmId: image.goldenVmId,
        templateVmId: image.templateVmId,
        sourceDatastoreId: id(0xd2),
        disks: disks.map(({ snapshotLayerId, templateDiskId, capacityBytes }) => ({
          snapshotLayerId,
          templateDiskId,
          capacityBytes,
        })),
        replicas: [
          {
            replicaVmId: image.replicaVmId,
            datastoreId,
            diskIds: [id(0x8001), id(0x8002)],
          },
        ],
        parents: [
          {
            parentVmId: image.parentVmId,
            replicaVmId: image.replicaVmId,
            datastoreId,
            diskIds: [id(0x9001), id(0x9002)],
            memory: parentMemory,
          },
        ],
      },
    });
  });

  it('another kind of job is unchanged', () => {
    const v1 = queued({
      kind: 'power',
      vmId: id(0x1001),
      datastoreId,
      to: 'poweredOn',
      from: 'poweredOff',
      diskIds: [id(0xb001)],
      memoryImage: { imageId: id(0xc001), sizeBytes: 1024 ** 3 },
    });
    expect(Value.Check(TaskQueuedDataV1, v1)).toBe(true);

    const current = upcastToCurrent('TaskQueued', 1, v1);

    expect(current).toEqual(v1);
    expect(Value.Check(TaskQueuedData, current)).toBe(true);
  });
});

describe('a v1 pool history, upcast, folds as v2', () => {
  const stored: [type: PoolEvent['type'], version: number, data: unknown][] = [
    ['PoolCreated', 1, createdV1],
    ['PoolImagePublished', 1, { poolId, taskId: image.taskId }],
    ['PoolMachineRequested', 1, machineRequestedV1],
  ];
  const fold = (events: typeof stored) =>
    events
      .map(
        ([type, version, data]) =>
          ({ type, data: upcastToCurrent(type, version, data) }) as PoolEvent,
      )
      .reduce(poolDecider.evolve, poolDecider.initialState());

  it('gives a machine of a v1 event its image’s one parent', () => {
    const state = fold(stored) as Extract<PoolState, { status: 'present' }>;

    expect(state.image).toEqual(asV2(image));
    expect(state.internalVms).toEqual(
      [
        [image.templateVmId, 'internal-template'],
        [image.replicaVmId, 'replica'],
        [image.parentVmId, 'parent'],
      ].map(([vmId, role]) => ({ vmId, role, imageTaskId: image.taskId, removing: false })),
    );
    expect(state.machines).toEqual([
      {
        vmId: machineRequestedV1.vmId,
        name: 'sales-001',
        number: 1,
        userId: null,
        status: 'provisioning',
        imageTaskId: image.taskId,
        parentVmId: image.parentVmId,
      },
    ]);
  });

  it('gives a machine requested after a v1 push the pushed image’s parent', () => {
    const pushed = imageV1(2);
    const state = fold([
      ...stored,
      ['PoolImagePushStarted', 1, pushStartedV1],
      ['PoolImagePushed', 1, { poolId, taskId: pushed.taskId }],
      [
        'PoolMachineRequested',
        1,
        { ...machineRequestedV1, vmId: id(0x1002), name: 'sales-002', number: 2 },
      ],
    ]) as Extract<PoolState, { status: 'present' }>;

    expect(state.image).toEqual(asV2(pushed));
    expect(state.previousImage).toEqual(asV2(image));
    expect(state.machines.map((m) => [m.vmId, m.imageTaskId, m.parentVmId])).toEqual([
      [id(0x1001), image.taskId, image.parentVmId],
      [id(0x1002), pushed.taskId, pushed.parentVmId],
    ]);
  });
});

describe('TaskQueued v2 read as v3', () => {
  const queued = (job: unknown) => ({
    taskId: id(0x600 + 2),
    operation: 'RestoreQuarantinedLayer',
    target: { type: 'datastore', id: datastoreId },
    job,
    placement: { kind: 'group', group: 'rack-1' },
  });

  it('reads every v2 job as it was; only v3 carries a restore of a quarantined layer', () => {
    const v2 = queued({
      kind: 'create-disks',
      vmId: id(0x1001),
      datastoreId,
      disks: [{ diskId: id(0x7001), capacityBytes: 1024, format: 'thin' }],
    });
    expect(Value.Check(TaskQueuedDataV2, v2)).toBe(true);
    expect(upcastToCurrent('TaskQueued', 2, v2)).toEqual(v2);
    expect(Value.Check(TaskQueuedData, upcastToCurrent('TaskQueued', 2, v2))).toBe(true);

    const restore = queued({ kind: 'restore-quarantined', datastoreId, layerId: 'layer-1' });
    expect(Value.Check(TaskQueuedData, restore)).toBe(true);
    expect(Value.Check(TaskQueuedDataV2, restore)).toBe(false);
  });

  it('refuses a hostile layer name in a restore job', () => {
    for (const layerId of ['..', '../etc', 'a/b', '.hidden', 'a..b', '', 'x'.repeat(129)])
      expect([
        layerId,
        Value.Check(TaskQueuedData, queued({ kind: 'restore-quarantined', datastoreId, layerId })),
      ]).toEqual([layerId, false]);
  });
});

describe('TaskQueued v4 read as v5', () => {
  const rebuild = {
    taskId: id(0x600 + 5),
    operation: 'RebuildReadModels',
    target: { type: 'read-models', id: 'read_model' },
    job: { kind: 'rebuild-read-models' },
    placement: { kind: 'projector' },
  };

  it('reads a v4 job as it was; only v5 carries a rebuild, its target and its placement', () => {
    const v4 = {
      ...rebuild,
      operation: 'RestoreQuarantinedLayer',
      target: { type: 'datastore', id: datastoreId },
      job: { kind: 'restore-quarantined', datastoreId, layerId: 'layer-1' },
      placement: { kind: 'group', group: 'rack-1' },
    };
    expect(Value.Check(TaskQueuedDataV4, v4)).toBe(true);
    expect(upcastToCurrent('TaskQueued', 4, v4)).toEqual(v4);

    expect(Value.Check(TaskQueuedData, rebuild)).toBe(true);
    expect(Value.Check(TaskQueuedDataV4, rebuild)).toBe(false);
    expect(Value.Check(TaskQueuedDataV4, { ...v4, target: rebuild.target })).toBe(false);
    expect(Value.Check(TaskQueuedDataV4, { ...v4, placement: rebuild.placement })).toBe(false);
  });

  it('refuses a rebuild job that carries anything else', () => {
    expect(
      Value.Check(TaskQueuedData, {
        ...rebuild,
        job: { kind: 'rebuild-read-models', schema: 'x' },
      }),
    ).toBe(false);
    expect(
      Value.Check(TaskQueuedData, { ...rebuild, placement: { kind: 'projector', id: 1 } }),
    ).toBe(false);
  });
});
