import { upcastToCurrent } from '@dolly/contracts';
import { datastoreDecider, vmDecider } from '@dolly/domain';
import { type TestDatabase, createTestDatabase, numberedId, vmCreatedDataV1 } from '@dolly/testing';
import type { QueryRunner } from 'typeorm';
import { ReadModelStatesV21764000000011 } from './1764000000011-read-model-states-v2';

/**
 * Rows folded before DatastoreRegistered v2 and VmCreated v2 get what a rebuild would fold from
 * the upcast events: a rebuild of the read models must equal the live ones after the upgrade.
 */

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase(2);
});
afterEach(() => db.drop());

const migration = new ReadModelStatesV21764000000011();
const runner = () =>
  ({
    query: (sql: string) => db.pool.query(sql).then((result) => result.rows),
  }) as unknown as QueryRunner;

const id = numberedId;
const poolId = id(0xc1);
const vmCreatedV1 = vmCreatedDataV1;
const v1Vms = [
  vmCreatedV1(id(1), 'vm', { kind: 'new' }),
  vmCreatedV1(id(2), 'instant-clone', {
    kind: 'fork',
    parentVmId: id(1),
    replicaVmId: null,
    poolId,
  }),
  vmCreatedV1(id(3), 'replica', {
    kind: 'clone',
    sourceVmId: id(1),
    snapshotId: null,
    linked: false,
    format: 'thin',
  }),
];
const v1Datastore = {
  datastoreId: id(0xd1),
  name: 'ds-01',
  capacityBytes: 1024 ** 4,
  folder: '/srv/dolly/ds-01',
  overcommitRatio: 1,
};

/** The state each row held, folded by the earlier decider (the v1 data, as it was). */
async function insertEarlierRows(): Promise<void> {
  for (const data of v1Vms) {
    const state = vmDecider.evolve(vmDecider.initialState(), {
      type: 'VmCreated',
      data: { ...data, poolId: null },
    } as never) as unknown as Record<string, unknown>;
    delete state.poolId;
    await db.pool.query(
      `INSERT INTO read_model.vms (vm_id, name, role, power_state, lifecycle, host_id, datastore_id, state, created_at, updated_at, version)
       VALUES ($1, $2, $3, 'poweredOff', 'ready', $4, $5, $6, now(), now(), 1)`,
      [data.vmId, data.name, data.role, data.hostId, data.datastoreId, state],
    );
  }
  const datastore = datastoreDecider.evolve(datastoreDecider.initialState(), {
    type: 'DatastoreRegistered',
    data: { ...v1Datastore, adopted: false },
  }) as unknown as Record<string, unknown>;
  delete datastore.adopted;
  await db.pool.query(
    `INSERT INTO read_model.datastores (datastore_id, name, capacity_bytes, claimed_physical_bytes, claimed_provisioned_bytes, state, registered_at, updated_at)
     VALUES ($1, 'ds-01', $2, 0, 0, $3, now(), now())`,
    [v1Datastore.datastoreId, v1Datastore.capacityBytes, datastore],
  );
}

const rebuilt = () => ({
  vms: v1Vms.map((data) =>
    vmDecider.evolve(vmDecider.initialState(), {
      type: 'VmCreated',
      data: upcastToCurrent('VmCreated', 1, data),
    } as never),
  ),
  datastore: datastoreDecider.evolve(datastoreDecider.initialState(), {
    type: 'DatastoreRegistered',
    data: upcastToCurrent('DatastoreRegistered', 1, v1Datastore),
  } as never),
});

async function live() {
  const vms = await db.pool.query('SELECT state FROM read_model.vms ORDER BY vm_id');
  const datastores = await db.pool.query('SELECT state FROM read_model.datastores');
  return { vms: vms.rows.map((row) => row.state), datastore: datastores.rows[0].state };
}

it('gives rows folded before the upgrade what a rebuild folds, and takes it back when undone', async () => {
  await insertEarlierRows();
  const before = await live();

  await migration.up(runner());
  expect(await live()).toEqual(rebuilt());

  await migration.down(runner());
  expect(await live()).toEqual(before);
});
