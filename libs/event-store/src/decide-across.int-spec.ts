import { type DatastoreState, type Workspace } from '@dolly/domain';
import { type TestDatabase, createTestDatabase, testMetadata } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import { PostgresEventStore } from './event-store';
import { decideAcross } from './decide-across';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(30);
});
afterAll(() => db.drop());

const GiB = 1024 ** 3;

/** A datastore stream registered straight in the store. */
async function datastore(store: PostgresEventStore): Promise<string> {
  const datastoreId = uuidv7();
  await store.appendToStream(`datastore-${datastoreId}`, 'datastore', 0, [
    {
      eventId: uuidv7(),
      type: 'DatastoreRegistered',
      data: {
        datastoreId,
        name: 'ds',
        capacityBytes: 100 * GiB,
        folder: '/ds',
        overcommitRatio: 1,
      },
      metadata: testMetadata(),
      occurredAt: new Date().toISOString(),
    },
  ]);
  return datastoreId;
}

/** Reserves space for one disk and answers the disks the decision saw claimed before it. */
function reserve(store: PostgresEventStore, datastoreId: string, diskId: string, fail = false) {
  return decideAcross(store, {
    streams: [{ kind: 'datastore', id: datastoreId }],
    decide: (ws: Workspace) => {
      const seen = Object.keys(
        (ws.datastore(datastoreId) as Extract<DatastoreState, { status: 'registered' }>).claims,
      );
      ws.decideDatastore({
        type: 'ReserveSpace',
        data: {
          datastoreId,
          taskId: uuidv7(),
          claims: [{ diskId, physicalBytes: GiB, provisionedBytes: GiB }],
        },
      });
      if (fail) throw new Error('refused after deciding');
      return seen;
    },
    metadata: testMetadata(),
    now: new Date().toISOString(),
  });
}

describe('deciding in a workspace', () => {
  it('reads only what came after the state it folded, and sees what other processes wrote meanwhile', async () => {
    // Two stores over one database: two processes, each with its own folded states.
    const [a, b] = [new PostgresEventStore(db.pool), new PostgresEventStore(db.pool)];
    const datastoreId = await datastore(a);
    expect((await reserve(a, datastoreId, 'd1')).result).toEqual([]);
    expect((await reserve(b, datastoreId, 'd2')).result).toEqual(['d1']);
    const third = await reserve(a, datastoreId, 'd3');
    expect(third.result).toEqual(['d1', 'd2']);
    expect(third.versions.get(`datastore-${datastoreId}`)).toBe(4);
    // A decision that threw leaves nothing behind, in the store or in what a process folded.
    await expect(reserve(a, datastoreId, 'd4', true)).rejects.toThrow('refused after deciding');
    expect((await reserve(a, datastoreId, 'd5')).result).toEqual(['d1', 'd2', 'd3']);
    expect((await reserve(new PostgresEventStore(db.pool), datastoreId, 'd6')).result).toEqual([
      'd1',
      'd2',
      'd3',
      'd5',
    ]);
  });

  it('keeps what concurrent decisions of one process folded consistent with the versions they read', async () => {
    const store = new PostgresEventStore(db.pool);
    const datastoreId = await datastore(store);
    const disks = Array.from({ length: 12 }, (_, i) => `c${i}`);
    await Promise.all(disks.map((diskId) => reserve(store, datastoreId, diskId)));
    // The process's own folded state and a fresh one agree: every reservation, none twice.
    const seen = (await reserve(store, datastoreId, 'last')).result;
    expect([...seen].sort()).toEqual([...disks].sort());
    expect((await reserve(new PostgresEventStore(db.pool), datastoreId, 'fresh')).result).toEqual([
      ...seen,
      'last',
    ]);
  });

  it('reads each stream after the version given for it', async () => {
    const store = new PostgresEventStore(db.pool);
    const [first, second] = [await datastore(store), await datastore(store)];
    await reserve(store, first, 'x1');
    await reserve(store, first, 'x2');
    const newer = await store.readStreamsAfter(
      new Map([
        [`datastore-${first}`, 1],
        [`datastore-${second}`, 1],
      ]),
    );
    expect(newer.get(`datastore-${first}`)!.map((e) => e.streamVersion)).toEqual([2, 3]);
    expect(newer.get(`datastore-${second}`)).toEqual([]);
  });
});
