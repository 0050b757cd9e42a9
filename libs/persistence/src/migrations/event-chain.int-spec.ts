import { PostgresEventStore, verifyEventChain } from '@dolly/event-store';
import { type TestDatabase, createTestDatabase, testMetadata } from '@dolly/testing';
import type { QueryRunner } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import { EventChain1764000000018 } from './1764000000018-event-chain';

/** A store with a history before the chains: the migration chains it, and appends chain on. */

let db: TestDatabase;
beforeEach(async () => {
  db = await createTestDatabase(2);
});
afterEach(() => db.drop());

/** As the launcher runs it (`transaction: 'each'`): one transaction per step. */
async function inOneTransaction(step: 'up' | 'down'): Promise<void> {
  const client = await db.pool.connect();
  try {
    const queryRunner = {
      query: (sql: string) => client.query(sql).then((result) => result.rows),
    } as unknown as QueryRunner;
    await client.query('BEGIN');
    await new EventChain1764000000018()[step](queryRunner);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

const renamed = (vmId: string, name: string) => ({
  eventId: uuidv7(),
  type: 'VmRenamed',
  data: { vmId, name, previousName: 'before' },
  metadata: testMetadata({ command: 'RenameVm' }),
  occurredAt: new Date().toISOString(),
});

it('chains the events appended before it, in the order readers follow, and chains on', async () => {
  const store = new PostgresEventStore(db.pool);
  const count = async () =>
    Number((await db.pool.query(`SELECT count(*) AS n FROM event_store.events`)).rows[0].n);
  await inOneTransaction('down');
  const vms = [uuidv7(), uuidv7()];
  for (const vmId of vms)
    await store.appendToStream(`vm-${vmId}`, 'vm', 0, [renamed(vmId, 'a'), renamed(vmId, 'b')]);
  await inOneTransaction('up');

  expect(await verifyEventChain(db.pool)).toMatchObject({
    intact: true,
    linksVerified: await count(),
  });
  await store.appendToStream(`vm-${vms[0]}`, 'vm', 2, [renamed(vms[0], 'chained')]);
  expect(await verifyEventChain(db.pool)).toMatchObject({
    intact: true,
    linksVerified: await count(),
  });
});

it('chains a history longer than one of its batches, every event once', async () => {
  await inOneTransaction('down');
  // 25,000 events of 5,000 streams, five statements: more than two batches of the backfill.
  for (let version = 1; version <= 5; version++)
    await db.pool.query(
      `INSERT INTO event_store.events
         (event_id, stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at)
       SELECT gen_random_uuid(), 'vm-' || s, 'vm', $1, 'VmRenamed', 1, jsonb_build_object('name', s),
              '{}', now()
         FROM generate_series(1, 5000) AS s`,
      [version],
    );
  await inOneTransaction('up');

  expect(await verifyEventChain(db.pool)).toMatchObject({ intact: true, linksVerified: 25_000 });
});
