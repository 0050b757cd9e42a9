import { poolStreamId, vmStreamId } from '@dolly/domain';
import { type TestDatabase, createTestDatabase } from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import {
  type AuditExportFilter,
  type AuditExportRow,
  auditExportPages,
} from './audit-export.query';

/**
 * Which entries an export holds, on an audit log written here row by row: each filter alone and
 * together, a pool's history with what its commands caused, the outcome joined from the task,
 * and pages that meet exactly at their boundaries.
 */

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(2);
});
afterAll(() => db.drop());

const pool = uuidv7();
const desktop = uuidv7();
const vm = uuidv7();
const poolCommand = uuidv7();
const failedTask = uuidv7();
let position = 0;

async function entry(
  streamId: string,
  actor: string,
  occurredAt: string,
  correlationId = uuidv7(),
  taskId: string | null = null,
): Promise<string> {
  position += 1;
  await db.pool.query(
    `INSERT INTO read_model.audit_log (event_id, global_position, stream_id, stream_type, stream_version, type,
       schema_version, actor_id, actor_role, correlation_id, causation_id, task_id, occurred_at, data, command)
     VALUES ($1, $2, $3, split_part($3, '-', 1),
             (SELECT count(*) + 1 FROM read_model.audit_log WHERE stream_id = $3), 'Something', 1,
             $4, 'operator', $5, NULL, $6, $7, '{}', 'DoSomething')`,
    [uuidv7(), position, streamId, actor, correlationId, taskId, occurredAt],
  );
  return String(position);
}

const positions = async (filter: AuditExportFilter, pageSize?: number) => {
  const rows: AuditExportRow[] = [];
  for await (const page of auditExportPages(db.pool, filter, pageSize)) rows.push(...page);
  return rows.map((row) => row.global_position);
};

let all: string[];
beforeAll(async () => {
  await db.pool.query(
    `INSERT INTO read_model.tasks (task_id, operation, target_type, target_id, status, implicit, attempt,
       cancel_requested, error_code, actor_id, actor_role, correlation_id, created_at, updated_at)
     VALUES ($1, 'PowerOnVm', 'vm', $2, 'failed', false, 1, false, 'HOST.NO_MEMORY', 'alice', 'operator', $3, now(), now())`,
    [failedTask, vm, uuidv7()],
  );
  all = [
    await entry(vmStreamId(vm), 'alice', '2026-01-01T10:00:00Z'),
    await entry(poolStreamId(pool), 'bob', '2026-01-01T11:00:00Z', poolCommand),
    await entry(vmStreamId(desktop), 'dolly-projector', '2026-01-01T11:00:01Z', poolCommand),
    await entry(vmStreamId(vm), 'alice', '2026-01-01T12:00:00Z', uuidv7(), failedTask),
    await entry(vmStreamId(desktop), 'bob', '2026-01-01T13:00:00Z'),
  ];
});

it('exports everything, oldest first, whatever the page size', async () => {
  expect(await positions({})).toEqual(all);
  expect(await positions({}, 1)).toEqual(all);
  expect(await positions({}, 5)).toEqual(all);
});

it('keeps what every filter given allows', async () => {
  expect(await positions({ vmId: vm })).toEqual([all[0], all[3]]);
  expect(await positions({ principal: 'bob' })).toEqual([all[1], all[4]]);
  expect(await positions({ from: '2026-01-01T11:00:00Z', to: '2026-01-01T13:00:00Z' })).toEqual(
    all.slice(1, 4),
  );
  expect(await positions({ vmId: desktop, principal: 'bob' })).toEqual([all[4]]);
  expect(await positions({ principal: 'nobody' })).toEqual([]);
});

it('gives a pool’s history with what its commands caused elsewhere, and nothing else', async () => {
  expect(await positions({ poolId: pool })).toEqual([all[1], all[2]]);
});

it('joins how the command’s task ended', async () => {
  const rows: AuditExportRow[] = [];
  for await (const page of auditExportPages(db.pool, { vmId: vm })) rows.push(...page);
  expect(rows.map((row) => [row.task_status, row.task_error_code])).toEqual([
    [null, null],
    ['failed', 'HOST.NO_MEMORY'],
  ]);
});

it('takes hostile text as a value, never as SQL', async () => {
  expect(await positions({ principal: "alice' OR '1'='1" })).toEqual([]);
});
