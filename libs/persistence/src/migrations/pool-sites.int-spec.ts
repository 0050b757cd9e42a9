import { type PoolImageV1, upcastToCurrent } from '@dolly/contracts';
import { type PoolEvent, type PoolState, poolDecider, removalsDue } from '@dolly/domain';
import { type TestDatabase, createTestDatabase, numberedId, poolImageV1 } from '@dolly/testing';
import type { PoolClient } from 'pg';
import type { QueryRunner } from 'typeorm';
import { PoolSites1764000000003 } from './1764000000003-pool-sites';

/**
 * The pools read model folded before pools had sites, rewritten by the migration: each row must
 * read as a rebuild from the store (v1 events upcast, folded by today's decider) would fold it,
 * and down() must give the earlier shape back.
 */

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase(2);
});
afterEach(() => db.drop());

/** The migration makes pg_temp functions: all of its queries go through one session. */
async function inOneSession(
  run: (migration: PoolSites1764000000003, queryRunner: QueryRunner) => Promise<void>,
): Promise<void> {
  const client: PoolClient = await db.pool.connect();
  try {
    const queryRunner = {
      query: (sql: string) => client.query(sql).then((result) => result.rows),
    } as unknown as QueryRunner;
    await run(new PoolSites1764000000003(), queryRunner);
  } finally {
    // The session's temporary functions go with it.
    client.release(true);
  }
}
const up = () => inOneSession((migration, queryRunner) => migration.up(queryRunner));
const down = () => inOneSession((migration, queryRunner) => migration.down(queryRunner));

// ------------------------------------------------------------------------------------------------
// Histories as v1 events said them, and the rows the earlier decider folded from them

const id = numberedId;
const hostId = id(0xa1);
const datastoreId = id(0xd1);
const settings = {
  name: 'sales',
  namingPattern: 'sales-{n:fixed=3}',
  maxMachines: 5,
  spareMachines: 1,
  provisioning: 'on-demand',
  assignment: 'dedicated',
} as const;

const imageV1 = (n: number) => poolImageV1(n, { hostId, datastoreId });
/** The chain VMs of a v1 image, in the order the earlier decider listed them. */
const chainV1 = (image: PoolImageV1, removing = false) =>
  (
    [
      [image.templateVmId, 'internal-template'],
      [image.replicaVmId, 'replica'],
      [image.parentVmId, 'parent'],
    ] as const
  ).map(([vmId, role]) => ({ vmId, role, imageTaskId: image.taskId, removing }));
const machineV1 = (
  n: number,
  image: PoolImageV1,
  status: 'provisioning' | 'ready',
  userId: string | null = null,
) => ({
  vmId: id(0x1000 + n),
  name: `sales-00${n}`,
  number: n,
  status,
  userId,
  imageTaskId: image.taskId,
});

type Stored = [type: PoolEvent['type'], version: number, data: unknown];
const created = (poolId: string, image: PoolImageV1): Stored => [
  'PoolCreated',
  1,
  { poolId, settings, image },
];
const published = (poolId: string, image: PoolImageV1): Stored => [
  'PoolImagePublished',
  1,
  { poolId, taskId: image.taskId },
];
const requested = (poolId: string, n: number, userId: string | null = null): Stored => [
  'PoolMachineRequested',
  1,
  { poolId, vmId: id(0x1000 + n), taskId: id(0x2000 + n), name: `sales-00${n}`, number: n, userId },
];
const ready = (poolId: string, n: number): Stored => [
  'PoolMachineReady',
  1,
  { poolId, vmId: id(0x1000 + n) },
];
const pushStarted = (
  poolId: string,
  image: PoolImageV1,
  rollout: 'at-logoff' | 'immediate',
): Stored => ['PoolImagePushStarted', 1, { poolId, image, rollout }];
const pushed = (poolId: string, image: PoolImageV1): Stored => [
  'PoolImagePushed',
  1,
  { poolId, taskId: image.taskId },
];

/** What a rebuild from the store gives: every event read as its current version, folded. */
const rebuilt = (history: Stored[]): PoolState =>
  history
    .map(([type, version, data]) => ({ type, data: upcastToCurrent(type, version, data) }))
    .reduce(
      (state, event) => poolDecider.evolve(state, event as PoolEvent),
      poolDecider.initialState(),
    );

const pushedPoolId = id(0xf1);
const oldImage = imageV1(1);
const newImage = imageV1(2);
/** Two desktops of image 1 (one in use), then image 2 pushed at log-off, and a spare of it. */
const pushedPool = {
  poolId: pushedPoolId,
  history: [
    created(pushedPoolId, oldImage),
    published(pushedPoolId, oldImage),
    requested(pushedPoolId, 1),
    ready(pushedPoolId, 1),
    requested(pushedPoolId, 2, 'alice@corp.example'),
    ready(pushedPoolId, 2),
    pushStarted(pushedPoolId, newImage, 'at-logoff'),
    pushed(pushedPoolId, newImage),
    requested(pushedPoolId, 3),
  ],
  v1State: {
    status: 'present',
    poolId: pushedPoolId,
    settings,
    image: newImage,
    imageStatus: 'published',
    push: null,
    scheduledPush: null,
    rollout: 'at-logoff',
    previousImage: oldImage,
    machines: [
      machineV1(1, oldImage, 'ready'),
      machineV1(2, oldImage, 'ready', 'alice@corp.example'),
      machineV1(3, newImage, 'provisioning'),
    ],
    internalVms: [...chainV1(oldImage), ...chainV1(newImage)],
    lifecycle: 'active',
  },
};

const pushingPoolId = id(0xf2);
const currentImage = imageV1(3);
const pushingImage = imageV1(4);
/** A machine of image 3, and image 4 being pushed (immediate). */
const pushingPool = {
  poolId: pushingPoolId,
  history: [
    created(pushingPoolId, currentImage),
    published(pushingPoolId, currentImage),
    requested(pushingPoolId, 1),
    pushStarted(pushingPoolId, pushingImage, 'immediate'),
  ],
  v1State: {
    status: 'present',
    poolId: pushingPoolId,
    settings,
    image: currentImage,
    imageStatus: 'published',
    push: { image: pushingImage, rollout: 'immediate' },
    scheduledPush: null,
    rollout: 'at-logoff',
    previousImage: null,
    machines: [machineV1(1, currentImage, 'provisioning')],
    internalVms: [...chainV1(currentImage), ...chainV1(pushingImage)],
    lifecycle: 'active',
  },
};

const buildingPoolId = id(0xf3);
const buildingImage = imageV1(5);
/** Just created: its image is being built, no machine yet. */
const buildingPool = {
  poolId: buildingPoolId,
  history: [created(buildingPoolId, buildingImage)],
  v1State: {
    status: 'present',
    poolId: buildingPoolId,
    settings,
    image: buildingImage,
    imageStatus: 'building',
    push: null,
    scheduledPush: null,
    rollout: 'at-logoff',
    previousImage: null,
    machines: [],
    internalVms: chainV1(buildingImage),
    lifecycle: 'active',
  },
};

const removedParentPoolId = id(0xf4);
const firstImage = imageV1(6);
const secondImage = imageV1(7);
/**
 * Image 7 pushed at log-off while bob still uses his desktop of image 6; image 6's parent is then
 * removed (machines that run stand on the replica, not on the parent), so no internal VM says it.
 */
const removedParentPool = {
  poolId: removedParentPoolId,
  history: [
    created(removedParentPoolId, firstImage),
    published(removedParentPoolId, firstImage),
    requested(removedParentPoolId, 1, 'bob@corp.example'),
    ready(removedParentPoolId, 1),
    pushStarted(removedParentPoolId, secondImage, 'at-logoff'),
    pushed(removedParentPoolId, secondImage),
    [
      'PoolVmRemovalRequested',
      1,
      { poolId: removedParentPoolId, vmId: firstImage.parentVmId, taskId: id(0x3001) },
    ],
    ['PoolVmRemoved', 1, { poolId: removedParentPoolId, vmId: firstImage.parentVmId }],
  ] as Stored[],
  v1State: {
    status: 'present',
    poolId: removedParentPoolId,
    settings,
    image: secondImage,
    imageStatus: 'published',
    push: null,
    scheduledPush: null,
    rollout: 'at-logoff',
    previousImage: firstImage,
    machines: [machineV1(1, firstImage, 'ready', 'bob@corp.example')],
    internalVms: [
      ...chainV1(firstImage).filter((vm) => vm.role !== 'parent'),
      ...chainV1(secondImage),
    ],
    lifecycle: 'active',
  },
};

type Pool = { poolId: string; v1State: Record<string, unknown> };

async function insertPool(poolId: string, state: unknown): Promise<void> {
  const s = state as { settings: { name: string }; lifecycle: string; imageStatus: string };
  const machines = (state as { machines: { userId: string | null }[] }).machines;
  await db.pool.query(
    `INSERT INTO read_model.pools
       (pool_id, name, lifecycle, image_status, machines, assigned, state, created_at, updated_at, version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, now(), now(), 1)`,
    [
      poolId,
      s.settings.name,
      s.lifecycle,
      s.imageStatus,
      machines.length,
      machines.filter((m) => m.userId !== null).length,
      JSON.stringify(state),
    ],
  );
}
const insert = (...pools: Pool[]) =>
  Promise.all(pools.map((pool) => insertPool(pool.poolId, pool.v1State)));

async function stateOf(poolId: string): Promise<Record<string, unknown>> {
  const { rows } = await db.pool.query<{ state: Record<string, unknown> }>(
    'SELECT state FROM read_model.pools WHERE pool_id = $1',
    [poolId],
  );
  return rows[0].state;
}

// ------------------------------------------------------------------------------------------------

describe('PoolSites1764000000003', () => {
  it('the rows are the earlier decider’s fold of the histories (the fixtures hold)', () => {
    // Today's fold, read back in v1 terms, is the v1 row: the histories and rows tell one story.
    for (const pool of [pushedPool, pushingPool, buildingPool, removedParentPool]) {
      const state = rebuilt(pool.history) as Extract<PoolState, { status: 'present' }>;
      expect(state.machines.map(({ parentVmId: _, ...machine }) => machine)).toEqual(
        pool.v1State.machines,
      );
      expect(state.internalVms).toEqual(pool.v1State.internalVms);
      expect(state.imageStatus).toBe(pool.v1State.imageStatus);
    }
    // The pool does remove an earlier image's parent while a desktop of that image is in use.
    const afterPush = rebuilt(removedParentPool.history.slice(0, 6)) as Extract<
      PoolState,
      { status: 'present' }
    >;
    expect(removalsDue(afterPush)).toContainEqual({ vmId: firstImage.parentVmId, role: 'parent' });
  });

  it('up() rewrites each pool as a rebuild from the store would fold it', async () => {
    await insert(pushedPool, pushingPool, buildingPool);

    await up();

    expect(await stateOf(pushedPool.poolId)).toEqual(rebuilt(pushedPool.history));
    expect(await stateOf(pushingPool.poolId)).toEqual(rebuilt(pushingPool.history));
    expect(await stateOf(buildingPool.poolId)).toEqual(rebuilt(buildingPool.history));
  });

  it('up() gives lists of one replica and one parent, and each machine its own image’s parent', async () => {
    await insert(pushedPool, pushingPool);

    await up();

    const v2 = (image: PoolImageV1) => ({
      goldenVmId: image.goldenVmId,
      snapshotId: image.snapshotId,
      templateVmId: image.templateVmId,
      replicas: [{ datastoreId, replicaVmId: image.replicaVmId }],
      parents: [{ hostId, datastoreId, parentVmId: image.parentVmId }],
      taskId: image.taskId,
    });
    expect(await stateOf(pushedPool.poolId)).toMatchObject({
      image: v2(newImage),
      previousImage: v2(oldImage),
      push: null,
      machines: [
        { ...machineV1(1, oldImage, 'ready'), parentVmId: oldImage.parentVmId },
        {
          ...machineV1(2, oldImage, 'ready', 'alice@corp.example'),
          parentVmId: oldImage.parentVmId,
        },
        { ...machineV1(3, newImage, 'provisioning'), parentVmId: newImage.parentVmId },
      ],
    });
    expect(await stateOf(pushingPool.poolId)).toMatchObject({
      image: v2(currentImage),
      previousImage: null,
      push: { image: v2(pushingImage), rollout: 'immediate' },
      machines: [
        { ...machineV1(1, currentImage, 'provisioning'), parentVmId: currentImage.parentVmId },
      ],
    });
  });

  it('up() leaves rows already in the new shape as they are', async () => {
    const v2State = rebuilt(pushedPool.history);
    await insertPool(pushedPool.poolId, v2State);

    await up();

    expect(await stateOf(pushedPool.poolId)).toEqual(v2State);
  });

  // After a push, an earlier image's parent goes while its desktops are still in use.
  it('up() gives a machine its own image’s parent even once that parent is removed', async () => {
    await insert(removedParentPool);

    await up();

    const state = await stateOf(removedParentPool.poolId);
    expect((state.machines as { parentVmId: string }[])[0].parentVmId).toBe(firstImage.parentVmId);
    expect(state).toEqual(rebuilt(removedParentPool.history));
  });

  it('down() gives the earlier shape back', async () => {
    await insert(pushedPool, pushingPool, buildingPool);
    await up();

    await down();

    for (const pool of [pushedPool, pushingPool, buildingPool])
      expect(await stateOf(pool.poolId)).toEqual(pool.v1State);
  });

  it('down() refuses while a pool stands on two parents, and changes nothing', async () => {
    const twoSitesPoolId = id(0xf5);
    const secondHost = id(0xa2);
    const image = imageV1(8);
    await insertPool(
      twoSitesPoolId,
      rebuilt([
        [
          'PoolCreated',
          2,
          {
            poolId: twoSitesPoolId,
            settings,
            image: {
              goldenVmId: image.goldenVmId,
              snapshotId: image.snapshotId,
              templateVmId: image.templateVmId,
              replicas: [{ datastoreId, replicaVmId: image.replicaVmId }],
              parents: [
                { hostId, datastoreId, parentVmId: image.parentVmId },
                { hostId: secondHost, datastoreId, parentVmId: id(0x5ff) },
              ],
              taskId: image.taskId,
            },
          },
        ],
      ]),
    );
    await insert(pushedPool);
    await up();
    const before = [await stateOf(twoSitesPoolId), await stateOf(pushedPool.poolId)];

    await expect(down()).rejects.toThrow(
      '1 pools stand on several hosts or datastores: the earlier shape cannot hold them',
    );

    expect([await stateOf(twoSitesPoolId), await stateOf(pushedPool.poolId)]).toEqual(before);
  });
});
