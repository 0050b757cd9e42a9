import { currentSchemaVersion } from '@dolly/contracts';
import {
  type TestDatabase,
  appendRecordedEvents,
  createTestDatabase,
  rebuiltReadModels,
  recordedHistory,
} from '@dolly/testing';

/**
 * Schema evolution: a history recorded from a real stack (tools/fixtures/record-history.ts) and
 * kept as it was written, each event at its schema version then, still rebuilds into exactly the
 * read models it rebuilt into when it was recorded. An event whose meaning changed, an upcaster
 * that lost a field or a projection that reads an old version differently shows here, by table.
 * Re-record only when a read model changes on purpose, never to make an event fit.
 */
const history = recordedHistory();

let db: TestDatabase;
let rebuilt: Record<string, unknown[]>;
beforeAll(async () => {
  db = await createTestDatabase(4);
  await appendRecordedEvents(db.pool, history.events);
  rebuilt = await rebuiltReadModels(db.pool);
});
afterAll(() => db.drop());

it('is a long mixed history, of many event types', () => {
  expect(history.events.length).toBeGreaterThan(300);
  expect(new Set(history.events.map((e) => e.type)).size).toBeGreaterThan(40);
});

it('still holds every event at a version today’s code reads', () => {
  for (const event of history.events)
    expect(event.schemaVersion).toBeLessThanOrEqual(currentSchemaVersion(event.type));
});

/**
 * The audit log shows each event as today's code reads it (upcast): its schema version is the one
 * current now, the only thing a later version may change in a recorded row.
 */
const asReadToday = (table: string, rows: unknown[]) =>
  table !== 'audit_log'
    ? rows
    : (rows as { type: string }[]).map((row) => ({
        ...row,
        schema_version: currentSchemaVersion(row.type),
      }));

it.each(Object.keys(history.readModels))('rebuilds %s as it was rebuilt when recorded', (table) => {
  expect(rebuilt[table]).toEqual(asReadToday(table, history.readModels[table]));
});

it('rebuilds no read model the recording did not have', () => {
  expect(Object.keys(rebuilt).sort()).toEqual(Object.keys(history.readModels).sort());
});
