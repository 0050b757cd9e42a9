import { type RecordedEvent, currentSchemaVersion } from '@dolly/contracts';
import { PostgresEventStore, START_OF_STORE } from '@dolly/event-store';
import { type TestDatabase, createTestDatabase, testMetadata } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import { applyEvents } from './projector-engine';
import { compareReadModels, discardSchema, rebuildReadModels } from './rebuild';

const GiB = 1024 ** 3;
let db: TestDatabase;
let store: PostgresEventStore;

beforeEach(async () => {
  db = await createTestDatabase();
  store = new PostgresEventStore(db.pool);
});
afterEach(() => db.drop());

const metadata = () => testMetadata({ actor: { id: 'alice', role: 'operator' }, taskId: uuidv7() });

async function vmHistory(): Promise<{ vmId: string; events: RecordedEvent[] }> {
  const vmId = uuidv7();
  const created = {
    vmId,
    name: 'web',
    folder: '/',
    role: 'vm',
    hostId: uuidv7(),
    datastoreId: uuidv7(),
    hardware: {
      vcpus: 2,
      memoryBytes: 4 * GiB,
      hardwareVersion: 'vmx-19',
      guestOs: 'ubuntu64Guest',
    },
    disks: [],
    nics: [],
    biosUuid: uuidv7(),
    origin: { kind: 'new' },
    provisioningTaskId: null,
  };
  const steps: [string, unknown][] = [
    ['VmCreated', created],
    ['VmRenamed', { vmId, name: 'web-2', previousName: 'web' }],
    ['VmConvertedToTemplate', { vmId }],
    ['TemplateConvertedToVm', { vmId }],
  ];
  for (const [version, [type, data]] of steps.entries()) {
    const result = await store.appendToStream(`vm-${vmId}`, 'vm', version, [
      {
        eventId: uuidv7(),
        type,
        data,
        metadata: metadata(),
        occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, version)).toISOString(),
      },
    ]);
    if (!result.success) throw new Error('conflict');
  }
  return { vmId, events: await store.readStream(`vm-${vmId}`) };
}

const project = (events: RecordedEvent[]) =>
  store.transaction((client) => applyEvents(client, 'read_model', events));

async function vmRow(vmId: string) {
  return (
    await db.pool.query('SELECT name, role, version FROM read_model.vms WHERE vm_id = $1', [vmId])
  ).rows[0];
}

describe('applying events to the read models', () => {
  it('changes nothing the second time it sees the same events', async () => {
    const { vmId, events } = await vmHistory();
    expect(await project(events)).toMatchObject({ applied: 4, skippedAsDuplicates: 0 });
    const once = await vmRow(vmId);
    expect(await project(events)).toMatchObject({ applied: 0, skippedAsDuplicates: 4 });
    expect(await project([events[1], events[3]])).toMatchObject({
      applied: 0,
      skippedAsDuplicates: 2,
    });
    expect(await vmRow(vmId)).toEqual(once);
    expect(once).toEqual({ name: 'web-2', role: 'vm', version: 4 });
    const audit = await db.pool.query('SELECT count(*)::int AS n FROM read_model.audit_log');
    expect(audit.rows[0].n).toBe(4);
  });

  it('writes an event recorded in an earlier version of its type to the audit log as read today, live and rebuilt', async () => {
    const { events: vmEvents } = await vmHistory();
    const taskId = uuidv7();
    // TaskFailed v1 had no reasons; the store is written directly, as an earlier Dolly wrote it.
    await db.pool.query(
      `INSERT INTO event_store.events
         (event_id, stream_id, stream_type, stream_version, type, schema_version, data, metadata, occurred_at)
       VALUES ($1, $2, 'task', 1, 'TaskFailed', 1, $3, $4, now())`,
      [
        uuidv7(),
        `task-${taskId}`,
        JSON.stringify({ taskId, attempt: 1, code: 'DISK.FULL', message: 'The disk is full' }),
        JSON.stringify(metadata()),
      ],
    );
    const taskEvents = await store.readStream(`task-${taskId}`);
    expect(await project([...vmEvents, ...taskEvents])).toMatchObject({ applied: 5 });
    const audit = await db.pool.query(
      `SELECT type, schema_version, data FROM read_model.audit_log ORDER BY global_position`,
    );
    expect(audit.rows.map((row) => [row.type, row.schema_version])).toEqual([
      ['VmCreated', currentSchemaVersion('VmCreated')],
      ['VmRenamed', 1],
      ['VmConvertedToTemplate', 1],
      ['TemplateConvertedToVm', 1],
      ['TaskFailed', 2],
    ]);
    expect(audit.rows[4].data).toEqual({
      taskId,
      attempt: 1,
      code: 'DISK.FULL',
      message: 'The disk is full',
      reasons: [],
    });
    const { schema } = await rebuildReadModels(db.pool, { suffix: 'upcast' });
    expect(await compareReadModels(db.pool, 'read_model', schema)).toEqual([]);
  });

  it('fetches from the store what a stream skipped on the way, before applying what came', async () => {
    const { vmId, events } = await vmHistory();
    expect(await project([events[0], events[3]])).toMatchObject({
      applied: 4,
      fetchedFromStore: 2,
    });
    expect(await vmRow(vmId)).toEqual({ name: 'web-2', role: 'vm', version: 4 });
  });

  it('rebuilds into a fresh schema row for row equal to the live tables, and tells a difference when there is one', async () => {
    const histories = [await vmHistory(), await vmHistory(), await vmHistory()];
    for (const { events } of histories) await project(events);
    const rebuilt = await rebuildReadModels(db.pool, { suffix: 'test' });
    const { schema } = rebuilt;
    expect(schema).toBe('read_model_rebuild_test');
    expect(rebuilt.events).toBe(12);
    expect(await compareReadModels(db.pool, 'read_model', schema)).toEqual([]);

    await db.pool.query(`UPDATE read_model.vms SET name = 'tampered' WHERE vm_id = $1`, [
      histories[0].vmId,
    ]);
    expect(await compareReadModels(db.pool, 'read_model', schema)).toEqual([
      { table: 'vms', onlyInFirst: 1, onlyInSecond: 1 },
    ]);
    await discardSchema(db.pool, schema);
    const { events } = await store.readAll(START_OF_STORE, 100);
    expect(events).toHaveLength(12);
  });
});
