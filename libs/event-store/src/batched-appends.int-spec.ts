import { type TestDatabase, createTestDatabase, testMetadata } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import { BatchedAppends } from './batched-appends';
import { type NewEvent, PostgresEventStore } from './event-store';

const metadata = testMetadata({ command: 'RenameVm' });
const renamed = (vmId: string, name: string): NewEvent => ({
  eventId: uuidv7(),
  type: 'VmRenamed',
  data: { vmId, name, previousName: 'x' },
  metadata,
  occurredAt: new Date().toISOString(),
});

let db: TestDatabase;
let store: PostgresEventStore;
let batched: BatchedAppends;

beforeEach(async () => {
  db = await createTestDatabase(20);
  store = new PostgresEventStore(db.pool);
  batched = new BatchedAppends(db.pool, store);
});
afterEach(() => db.drop());

async function count(sql: string): Promise<number> {
  return (await db.pool.query(sql)).rows[0].n;
}

describe('appends sharing a commit', () => {
  it('writes many streams at once, each with its own versions, positions and outbox rows', async () => {
    const vmIds = Array.from({ length: 200 }, () => uuidv7());
    const results = await Promise.all(
      vmIds.map((vmId, i) =>
        batched.append(
          `vm-${vmId}`,
          'vm',
          0,
          i % 2 ? [renamed(vmId, 'a')] : [renamed(vmId, 'a'), renamed(vmId, 'b')],
        ),
      ),
    );
    expect(results.every((r) => r.success)).toBe(true);
    for (const [i, vmId] of vmIds.entries()) {
      const events = await store.readStream(`vm-${vmId}`);
      expect(events.map((e) => e.streamVersion)).toEqual(i % 2 ? [1] : [1, 2]);
      const result = results[i];
      if (!result.success) throw new Error('unreachable');
      expect(result.events.map((e) => e.globalPosition)).toEqual(
        events.map((e) => e.globalPosition),
      );
    }
    expect(await count('SELECT count(*)::int AS n FROM event_store.events')).toBe(300);
    expect(await count('SELECT count(*)::int AS n FROM event_store.outbox')).toBe(300);
  });

  it('lets one of many appends at the same version of one stream win, and writes nothing for the others', async () => {
    const vmId = uuidv7();
    await store.appendToStream(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'start')]);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        batched.append(`vm-${vmId}`, 'vm', 1, [renamed(vmId, `w${i}`), renamed(vmId, `w${i}'`)]),
      ),
    );
    expect(results.filter((r) => r.success)).toHaveLength(1);
    expect(
      results.filter((r) => !r.success).every((r) => !r.success && r.actualVersion === 3),
    ).toBe(true);
    expect((await store.readStream(`vm-${vmId}`)).length).toBe(3);
  });

  it('never leaves a multi-event append half written when a concurrent writer takes one of its versions', async () => {
    const vmIds = Array.from({ length: 30 }, () => uuidv7());
    // Direct writers race the batch for the same first versions, one event each.
    const racing = vmIds.map((vmId) =>
      store.appendToStream(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'direct')]),
    );
    const batchedResults = vmIds.map((vmId) =>
      batched.append(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'b1'), renamed(vmId, 'b2')]),
    );
    await Promise.all([...racing, ...batchedResults]);
    for (const vmId of vmIds) {
      const names = (await store.readStream(`vm-${vmId}`)).map(
        (e) => (e.data as { name: string }).name,
      );
      expect([['direct'], ['b1', 'b2']]).toContainEqual(names);
    }
  });
});
