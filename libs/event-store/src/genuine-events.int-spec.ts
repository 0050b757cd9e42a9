import type { RecordedEvent } from '@dolly/contracts';
import { type TestDatabase, createTestDatabase, testMetadata } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import { PostgresEventStore, type Queryable } from './event-store';
import { verifyAgainstStore } from './genuine-events';

let db: TestDatabase;
let store: PostgresEventStore;

beforeAll(async () => {
  db = await createTestDatabase();
  store = new PostgresEventStore(db.pool);
});
afterAll(() => db.drop());

async function renamedTwice(): Promise<RecordedEvent[]> {
  const vmId = uuidv7();
  const renamed = (name: string, previousName: string) => ({
    eventId: uuidv7(),
    type: 'VmRenamed',
    data: { vmId, name, previousName },
    metadata: testMetadata({ command: 'RenameVm' }),
    occurredAt: new Date().toISOString(),
  });
  const appended = await store.appendToStream(`vm-${vmId}`, 'vm', 0, [
    renamed('b', 'a'),
    renamed('c', 'b'),
  ]);
  if (!appended.success) throw new Error('conflict');
  return appended.events;
}

describe('holding received events against the store', () => {
  it('finds the events the store holds genuine, and gives them back as the store reads them', async () => {
    const events = await renamedTwice();
    const verdicts = await verifyAgainstStore(store, events);
    expect(verdicts).toEqual(events.map((event) => ({ genuine: true, event })));
  });

  it('refuses an event the store does not have, and one it has differently', async () => {
    const [first, second] = await renamedTwice();
    const verdicts = await verifyAgainstStore(store, [
      { ...second, streamVersion: 3, eventId: uuidv7() },
      { ...second, eventId: uuidv7() },
      { ...first, data: { ...(first.data as object), name: 'evil' } },
      { ...first, metadata: { ...first.metadata, actor: { id: 'mallory', role: 'admin' } } },
      first,
    ]);
    expect(verdicts.map((v) => (v.genuine ? 'genuine' : `${v.reason}: ${v.detail}`))).toEqual([
      `EVENT.NOT_IN_STORE: the store has no event at ${first.streamId} version 3`,
      `EVENT.NOT_AS_STORED: ${first.streamId} version 2 differs from the stored event in eventId`,
      `EVENT.NOT_AS_STORED: ${first.streamId} version 1 differs from the stored event in data`,
      `EVENT.NOT_AS_STORED: ${first.streamId} version 1 differs from the stored event in metadata`,
      'genuine',
    ]);
  });

  it('holds a whole batch against the store in one query, however large', async () => {
    const batch: RecordedEvent[] = [];
    for (let i = 0; i < 100; i++) batch.push(...(await renamedTwice()));
    let queries = 0;
    const counting: Queryable = {
      query: ((...args: Parameters<Queryable['query']>) => {
        queries += 1;
        return (db.pool.query as (...a: unknown[]) => unknown)(...args);
      }) as Queryable['query'],
    };
    const verdicts = await verifyAgainstStore(store, batch, counting);
    expect(verdicts.filter((v) => v.genuine)).toHaveLength(200);
    expect(queries).toBe(1);
  });
});
