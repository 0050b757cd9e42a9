import { HostManagement, QuarantineEntry } from '@dolly/domain';
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
  folder: Type.String({ description: 'Its folder, with symlinks resolved.' }),
  overcommitRatio: Type.Number(),
  adopted: Type.Boolean({
    description: 'Registered by adopting a Dolly datastore its folder already held.',
  }),
  accessibility: Type.Union([Type.Literal('accessible'), Type.Literal('inaccessible')], {
    description:
      'inaccessible while a worker cannot open its folder (it serves its other datastores and retries this one, backing off); its disks cannot be reached through that worker.',
  }),
  accessibilityReason: Type.Union([Type.String(), Type.Null()], {
    description: 'Why, worker by worker (`<worker>: <code>: <reason>`); null when accessible.',
  }),
  space: Type.Object(
    {
      claimedPhysicalBytes: Type.Integer({
        description: 'Set aside for disks: full capacity if thick, the measured need if thin.',
      }),
      claimedProvisionedBytes: Type.Integer({
        description: 'Promised to guests (their capacities).',
      }),
      freeBytes: Type.Integer({ description: 'capacity − claimed physical.' }),
      provisionableBytes: Type.Integer({
        description: 'capacity × overcommit ratio: how much may be promised.',
      }),
      measured: Type.Union(
        [
          Type.Object({
            provisionedBytes: Type.Integer(),
            usedBytes: Type.Integer({
              description: 'What its layer files take on the file system.',
            }),
            sharedBytes: Type.Integer({ description: 'Used by layers two or more disks read.' }),
            ownBytes: Type.Integer(),
          }),
          Type.Null(),
        ],
        { description: 'As a worker last measured it.' },
      ),
    },
    { description: 'Space planning: what clones and new disks may still claim.' },
  ),
  registeredAt: Type.String({ format: 'date-time' }),
});
export type DatastoreView = Static<typeof DatastoreView>;

export function hostView(row: HostRow): HostView {
  return {
    hostId: row.hostId,
    name: row.name,
    cpuCores: row.state.cpuCores,
    memoryBytes: row.state.memoryBytes,
    maxHardwareVersion: row.state.maxHardwareVersion,
    management: row.state.management,
    registeredAt: row.registeredAt.toISOString(),
  };
}

export function datastoreView(row: DatastoreRow): DatastoreView {
  return {
    datastoreId: row.datastoreId,
    name: row.name,
    capacityBytes: row.capacityBytes,
    folder: row.state.folder,
    overcommitRatio: row.state.overcommitRatio,
    // Rows folded before adoption existed carry no flag: none of them was adopted.
    adopted: row.state.adopted === true,
    accessibility: row.accessibility,
    accessibilityReason: row.accessibilityReason,
    space: {
      claimedPhysicalBytes: row.claimedPhysicalBytes,
      claimedProvisionedBytes: row.claimedProvisionedBytes,
      freeBytes: row.capacityBytes - row.claimedPhysicalBytes,
      provisionableBytes: Math.floor(row.capacityBytes * row.state.overcommitRatio),
      measured: row.state.usage,
    },
    registeredAt: row.registeredAt.toISOString(),
  };
}

export const QuarantineView = Type.Object(
  {
    datastoreId: Type.String({ format: 'uuid' }),
    entries: Type.Array(QuarantineEntry, {
      description:
        'What check moved aside, as a worker serving it last saw it: quarantined layers (restorable once sound) and files no layer named.',
    }),
    observed: Type.Boolean({ description: 'false: no worker has reported on it yet.' }),
  },
  { additionalProperties: false },
);
export type QuarantineView = Static<typeof QuarantineView>;

export function quarantineView(row: DatastoreRow): QuarantineView {
  return {
    datastoreId: row.datastoreId,
    entries: row.state.quarantine ?? [],
    observed: row.state.quarantine !== undefined,
  };
}
