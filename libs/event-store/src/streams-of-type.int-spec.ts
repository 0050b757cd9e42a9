import { type DatastoreState, datastoreDecider } from '@dolly/domain';
import { type TestDatabase, createTestDatabase, testMetadata } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import { type NewEvent, PostgresEventStore } from './event-store';
import { FoldedStreamsOfType } from './streams-of-type';

let db: TestDatabase;
let store: PostgresEventStore;

beforeAll(async () => {
  db = await createTestDatabase(30);
  store = new PostgresEventStore(db.pool);
});
afterAll(() => db.drop());

const event = (type: string, data: object): NewEvent => ({
  eventId: uuidv7(),
  type,
  data,
  metadata: testMetadata({ command: null }),
  occurredAt: new Date().toISOString(),
});

function registered(datastoreId: string, name: string) {
  return event('DatastoreRegistered', {
    datastoreId,
    name,
    capacityBytes: 1024 ** 3,
    folder: `/srv/${name}`,
    overcommitRatio: 1,
    adopted: false,
  });
}

/** Each datastore's name, marked when removed. */
const names = (states: ReadonlyMap<string, DatastoreState>) =>
  [...states.values()].map((state) =>
    state.status === 'unregistered' ? '?' : `${state.status === 'removed' ? '-' : ''}${state.name}`,
  );

describe('every stream of a type, folded', () => {
  it('folds each stream of the type, then only what each gained since the last look', async () => {
    const [a, b] = [uuidv7(), uuidv7()];
    await store.appendToStream(`datastore-${a}`, 'datastore', 0, [registered(a, 'ds-a')]);
    await store.appendToStream(`vm-${uuidv7()}`, 'vm', 0, [
      event('VmRenamed', { vmId: uuidv7(), name: 'x', previousName: 'y' }),
    ]);
    const datastores = new FoldedStreamsOfType(store, 'datastore', datastoreDecider);
    expect(names(await datastores.current())).toEqual(['ds-a']);

    await store.appendToStream(`datastore-${b}`, 'datastore', 0, [registered(b, 'ds-b')]);
    await store.appendToStream(`datastore-${a}`, 'datastore', 1, [
      event('DatastoreRenamed', { datastoreId: a, name: 'ds-a2', previousName: 'ds-a' }),
    ]);
    const reads: string[] = [];
    const readStreamsAfter = store.readStreamsAfter.bind(store);
    jest.spyOn(store, 'readStreamsAfter').mockImplementation(async (after, client) => {
      reads.push(...[...after].map(([streamId, version]) => `${streamId}@${version}`));
      return readStreamsAfter(after, client);
    });
    expect(names(await datastores.current())).toEqual(['ds-a2', 'ds-b']);
    expect(reads).toEqual([`datastore-${a}@1`, `datastore-${b}@0`]);

    await store.appendToStream(`datastore-${b}`, 'datastore', 1, [
      event('DatastoreRemoved', { datastoreId: b, name: 'ds-b', folder: '/srv/ds-b' }),
    ]);
    expect(names(await datastores.current())).toEqual(['ds-a2', '-ds-b']);
  });
});
