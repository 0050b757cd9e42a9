import { objectIdOf } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';
import { type Reader, eventDataView } from '../shared/live-disk-access';
import type { AuditExportRow } from './audit-export.query';

/** How the command that caused an entry ended: its task's status, or recorded at once. */
export const COMMAND_OUTCOMES = [
  'succeeded',
  'failed',
  'cancelled',
  'queued',
  'running',
  'unknown',
] as const;

export const AuditExportEntry = Type.Object(
  {
    eventId: Type.String({ format: 'uuid' }),
    globalPosition: Type.String({ description: 'Order in the store (64-bit, decimal string).' }),
    occurredAt: Type.String({ format: 'date-time' }),
    actor: Type.Object({
      id: Type.String({ description: 'The principal: a token’s name, or a Dolly app.' }),
      role: Type.String(),
    }),
    command: Type.Union([Type.String(), Type.Null()], {
      description: 'The command that caused it (CloneVm, ...); null for what Dolly did itself.',
    }),
    type: Type.String({ description: 'Event type; its schema is in the AsyncAPI document.' }),
    schemaVersion: Type.Integer(),
    object: Type.Object({ type: Type.String(), id: Type.String() }),
    streamVersion: Type.Integer(),
    correlationId: Type.String({ format: 'uuid' }),
    causationId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    taskId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    outcome: Type.Object(
      {
        status: Type.Union(COMMAND_OUTCOMES.map((status) => Type.Literal(status))),
        errorCode: Type.Union([Type.String(), Type.Null()]),
      },
      {
        description:
          'A command with a task: the task’s status now (and its error code); without one, its events being recorded is its success.',
      },
    ),
    data: Type.Unknown({
      description:
        "The event's data; live exports' NBD URIs only for roles that may attach disks (disks:attach).",
    }),
  },
  {
    description: 'One recorded change: who, what, when, under which correlation, and how it ended.',
  },
);
export type AuditExportEntry = Static<typeof AuditExportEntry>;

export function auditExportEntry(row: AuditExportRow, reader: Reader): AuditExportEntry {
  return {
    eventId: row.event_id,
    globalPosition: row.global_position,
    occurredAt: row.occurred_at.toISOString(),
    actor: { id: row.actor_id, role: row.actor_role },
    command: row.command,
    type: row.type,
    schemaVersion: row.schema_version,
    object: { type: row.stream_type, id: objectIdOf(row.stream_id) },
    streamVersion: row.stream_version,
    correlationId: row.correlation_id,
    causationId: row.causation_id,
    taskId: row.task_id,
    outcome: outcomeOf(row),
    data: eventDataView(row.data, reader),
  };
}

function outcomeOf(row: AuditExportRow): AuditExportEntry['outcome'] {
  if (!row.task_id) return { status: 'succeeded', errorCode: null };
  const status = COMMAND_OUTCOMES.find((known) => known === row.task_status) ?? 'unknown';
  return { status, errorCode: row.task_error_code };
}

/** The CSV export's columns, in order: one cell each, the data as JSON text. */
export const AUDIT_CSV_COLUMNS: [header: string, cell: (entry: AuditExportEntry) => unknown][] = [
  ['global_position', (e) => e.globalPosition],
  ['event_id', (e) => e.eventId],
  ['occurred_at', (e) => e.occurredAt],
  ['actor_id', (e) => e.actor.id],
  ['actor_role', (e) => e.actor.role],
  ['command', (e) => e.command],
  ['event_type', (e) => e.type],
  ['schema_version', (e) => e.schemaVersion],
  ['object_type', (e) => e.object.type],
  ['object_id', (e) => e.object.id],
  ['stream_version', (e) => e.streamVersion],
  ['correlation_id', (e) => e.correlationId],
  ['causation_id', (e) => e.causationId],
  ['task_id', (e) => e.taskId],
  ['outcome', (e) => e.outcome.status],
  ['error_code', (e) => e.outcome.errorCode],
  ['data', (e) => JSON.stringify(e.data)],
];
