import { HostManagement } from '@dolly/domain';
import type { DatastoreRow, HostRow } from '@dolly/read-models';
import { type Static, Type } from '@sinclair/typebox';

export const HostView = Type.Object({
  hostId: Type.String({ format: 'uuid' }),
  name: Type.String(),
  cpuCores: Type.Integer(),
  memoryBytes: Type.Integer(),
  maxHardwareVersion: Type.String(),
  management: HostManagement,
  registeredAt: Type.String({ format: 'date-time' }),
});
export type HostView = Static<typeof HostView>;

export const DatastoreView = Type.Object({
  datastoreId: Type.String({ format: 'uuid' }),
  name: Type.String(),
  capacityBytes: Type.Integer(),
  folder: Type.String(),
  overcommitRatio: Type.Number(),
  registeredAt: Type.String({ format: 'date-time' }),
});
export type DatastoreView = Static<typeof DatastoreView>;

export function hostView(row: HostRow): HostView {
  return {
    hostId: row.hostId,
    name: row.name,
    cpuCores: row.cpuCores,
    memoryBytes: row.memoryBytes,
    maxHardwareVersion: row.maxHardwareVersion,
    management: row.management as HostView['management'],
    registeredAt: row.registeredAt.toISOString(),
  };
}

export function datastoreView(row: DatastoreRow): DatastoreView {
  return {
    datastoreId: row.datastoreId,
    name: row.name,
    capacityBytes: row.capacityBytes,
    folder: row.folder,
    overcommitRatio: row.overcommitRatio,
    registeredAt: row.registeredAt.toISOString(),
  };
}
