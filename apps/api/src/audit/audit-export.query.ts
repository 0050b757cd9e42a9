import { poolStreamId, vmStreamId } from '@dolly/domain';
import { LIVE_SCHEMA } from '@dolly/read-models';
import type { Pool } from 'pg';

/** What an auditor exports: every condition given must hold. */
export interface AuditExportFilter {
  vmId?: string;
  /** The pool's own history and everything its commands caused (the same correlation). */
  poolId?: string;
  /** What this principal did (the actor's id: a token's name). */
  principal?: string;
  /** From this instant (inclusive) to that one (exclusive), by when each change occurred. */
  from?: string;
  to?: string;
}

export interface AuditExportRow {
  event_id: string;
  global_position: string;
  occurred_at: Date;
  actor_id: string;
  actor_role: string;
  command: string | null;
  type: string;
  schema_version: number;
  stream_type: string;
  stream_id: string;
  stream_version: number;
  correlation_id: string;
  causation_id: string | null;
  task_id: string | null;
  task_status: string | null;
  task_error_code: string | null;
  data: unknown;
}

const AUDIT_LOG = `${LIVE_SCHEMA}.audit_log`;

/**
 * The audit log's entries that match, in the order the store recorded them, a page at a time:
 * each page continues after the last position read (no transaction held open between pages, and
 * an export of the whole log reads it once).
 */
export async function* auditExportPages(
  pool: Pool,
  filter: AuditExportFilter,
  pageSize = 1000,
): AsyncGenerator<AuditExportRow[]> {
  const params: unknown[] = [];
  const param = (value: unknown) => `$${params.push(value)}`;
  const conditions: string[] = [];
  if (filter.vmId) conditions.push(`a.stream_id = ${param(vmStreamId(filter.vmId))}`);
  if (filter.poolId) {
    const stream = param(poolStreamId(filter.poolId));
    conditions.push(
      `(a.stream_id = ${stream} OR a.correlation_id IN (SELECT correlation_id FROM ${AUDIT_LOG} WHERE stream_id = ${stream}))`,
    );
  }
  if (filter.principal) conditions.push(`a.actor_id = ${param(filter.principal)}`);
  if (filter.from) conditions.push(`a.occurred_at >= ${param(filter.from)}`);
  if (filter.to) conditions.push(`a.occurred_at < ${param(filter.to)}`);
  const after = param('0');
  const limit = param(pageSize);
  const sql = `
    SELECT a.event_id, a.global_position::text AS global_position, a.occurred_at, a.actor_id, a.actor_role,
           a.command, a.type, a.schema_version, a.stream_type,
           a.stream_id, a.stream_version,
           a.correlation_id, a.causation_id, a.task_id, t.status AS task_status,
           t.error_code AS task_error_code, a.data
      FROM ${AUDIT_LOG} a LEFT JOIN ${LIVE_SCHEMA}.tasks t ON t.task_id = a.task_id
     WHERE a.global_position > ${after}::bigint ${conditions.map((c) => `AND ${c}`).join(' ')}
     ORDER BY a.global_position LIMIT ${limit}`;
  const afterIndex = params.length - 2;
  for (;;) {
    const { rows } = await pool.query<AuditExportRow>(sql, params);
    if (rows.length > 0) yield rows;
    if (rows.length < pageSize) return;
    params[afterIndex] = rows[rows.length - 1].global_position;
  }
}
