import type { RecordedEvent } from '@dolly/contracts';
import { type TestDatabase, createTestDatabase, testMetadata } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import { ProjectionTarget } from '../projection';
import { tasksProjection } from './tasks.projection';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('CREATE SCHEMA task_order');
  await db.pool.query('CREATE TABLE task_order.tasks (LIKE read_model.tasks INCLUDING ALL)');
});
afterAll(() => db.drop());

const admin = { id: 'alice', role: 'admin' };
const worker = { id: 'worker-1', role: 'worker' };

let position = 0;
function event(
  streamType: string,
  streamId: string,
  type: string,
  data: Record<string, unknown>,
  metadata: Record<string, unknown>,
): RecordedEvent {
  position += 1;
  return {
    eventId: uuidv7(),
    streamId: `${streamType}-${streamId}`,
    streamType,
    streamVersion: 1,
    globalPosition: String(position),
    type,
    data,
    metadata: testMetadata(metadata),
    occurredAt: new Date(Date.UTC(2026, 0, 1, 0, 0, position)).toISOString(),
  } as unknown as RecordedEvent;
}

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

async function projected(events: RecordedEvent[]): Promise<unknown[]> {
  const client = await db.pool.connect();
  try {
    await client.query('TRUNCATE task_order.tasks');
    const target = new ProjectionTarget(client, 'task_order');
    if (!('apply' in tasksProjection)) throw new Error('the tasks projection applies one by one');
    for (const e of events) await tasksProjection.apply(e, target);
    const { rows } = await client.query('SELECT * FROM task_order.tasks ORDER BY task_id');
    return rows;
  } finally {
    client.release();
  }
}

it('gives the same rows whatever order the streams of a task arrive in (partitions differ, a rebuild follows the store)', async () => {
  // A task of its own (queued by the API), and a worker's event of another stream naming it.
  const queuedTask = uuidv7();
  const vmId = uuidv7();
  const queued = event(
    'task',
    queuedTask,
    'TaskQueued',
    { taskId: queuedTask, operation: 'PowerOnVm', target: { type: 'vm', id: vmId } },
    { actor: admin, taskId: queuedTask, command: 'PowerOnVm' },
  );
  const byWorker = event(
    'vm',
    vmId,
    'VmPoweredOn',
    { vmId },
    { actor: worker, taskId: queuedTask, command: null },
  );
  // An implicit task (an entitlement) that wrote three streams in one decision.
  const entitlement = uuidv7();
  const implicit = ['datastore', 'pool', 'vm'].map((kind) =>
    event(
      kind,
      uuidv7(),
      'Something',
      {},
      { actor: admin, taskId: entitlement, command: 'EntitleUser' },
    ),
  );
  const all = [queued, byWorker, ...implicit];
  const expected = await projected(all);
  expect(expected).toEqual([
    expect.objectContaining({ task_id: queuedTask, actor_id: 'alice', implicit: false }),
    expect.objectContaining({ task_id: entitlement, target_type: 'vm', implicit: true }),
  ]);
  for (const order of permutations(all)) expect(await projected(order)).toEqual(expected);
});
