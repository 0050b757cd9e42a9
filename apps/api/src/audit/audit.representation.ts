import type { AuditEntryRow } from '@dolly/read-models';
import { type Static, Type } from '@sinclair/typebox';
import { type Reader, eventDataView } from '../shared/live-disk-access';

export const AuditEntryView = Type.Object(
  {
    eventId: Type.String({ format: 'uuid' }),
    type: Type.String({ description: 'Event type; its schema is in the AsyncAPI document.' }),
    schemaVersion: Type.Integer(),
    streamVersion: Type.Integer(),
    globalPosition: Type.String({
      description: 'Position in the store (64-bit, as a decimal string).',
    }),
    occurredAt: Type.String({ format: 'date-time' }),
    actor: Type.Object({ id: Type.String(), role: Type.String() }),
    correlationId: Type.String({ format: 'uuid' }),
    causationId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    taskId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    data: Type.Unknown({
      description:
        "The event's data, as its schema says; live exports' NBD URIs (`uri`) only for roles that may attach disks (disks:attach).",
    }),
  },
  { description: 'One recorded change, with who made it and when.' },
);
export type AuditEntryView = Static<typeof AuditEntryView>;

export function auditEntryView(row: AuditEntryRow, reader: Reader): AuditEntryView {
  return {
    eventId: row.eventId,
    type: row.type,
    schemaVersion: row.schemaVersion,
    streamVersion: row.streamVersion,
    globalPosition: row.globalPosition,
    occurredAt: row.occurredAt.toISOString(),
    actor: { id: row.actorId, role: row.actorRole },
    correlationId: row.correlationId,
    causationId: row.causationId,
    taskId: row.taskId,
    data: eventDataView(row.data, reader),
  };
}
