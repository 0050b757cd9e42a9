import {
  Bytes,
  type DatastoreRegistered,
  TaskQueuedDataV2,
  InventoryName,
  Uuid,
  type VmCreated,
  VmCreatedData,
  VmDeletionRequestedData,
  type VmEvent,
  VmPowerChangeRequestedData,
  type VmBlockMapsMeasured,
  runsOf,
} from '@dolly/domain';
import { type Static, type TObject, type TProperties, type TSchema, Type } from '@sinclair/typebox';

/**
 * Schemas of event versions that are no longer current, frozen as they were published, each with
 * how its data reads as the version after it. The domain knows only current versions.
 */
export interface EarlierVersion {
  schema: TSchema;
  upcastToNext: (data: unknown) => unknown;
}

const DatastoreRegisteredDataV1 = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    name: InventoryName('Datastore name, unique in the inventory.'),
    capacityBytes: Bytes('Usable capacity.'),
    folder: Type.String({
      minLength: 1,
      maxLength: 4096,
      pattern: '^/',
      description:
        'Absolute path of the folder holding its disks, as the workers serving it see it.',
    }),
    overcommitRatio: Type.Number({
      minimum: 1,
      maximum: 100,
      description:
        'How far thin provisioning may promise beyond capacity: 1 means never promise more than capacity.',
    }),
  },
  { additionalProperties: false, description: 'A datastore joined the inventory.' },
);

/** Before v2 no datastore could be adopted: each one's folder was made for it. */
export const datastoreRegisteredFromV1 = (data: unknown): DatastoreRegistered['data'] => ({
  ...(data as Static<typeof DatastoreRegisteredDataV1>),
  adopted: false,
});

export const DATASTORE_REGISTERED_EARLIER: readonly EarlierVersion[] = [
  { schema: DatastoreRegisteredDataV1, upcastToNext: datastoreRegisteredFromV1 },
];

/** The same object schema without the fields a later version added (they were appended last). */
function without(schema: TObject, added: readonly string[]): TObject {
  const { properties, required: _required, type: _type, ...options } = schema;
  const kept: TProperties = Object.fromEntries(
    Object.entries(properties).filter(([name]) => !added.includes(name)),
  );
  return Type.Object(kept, options);
}

/** Before v2 no VM recorded its pool: a pool's instant clones named it in their origin. */
export const vmCreatedFromV1 = (data: unknown): VmCreated['data'] => {
  const v1 = data as Omit<VmCreated['data'], 'poolId'>;
  return { ...v1, poolId: v1.origin.kind === 'fork' ? v1.origin.poolId : null };
};

/** Before v2 nothing could be forced past a pool's protection. */
const notForced = (data: unknown) => ({ ...(data as object), forced: false });

/** VmBlockMapsMeasured v1, as published: one entry per extent, and one event however large. */
const DiskBlockMapV1 = Type.Object(
  {
    diskId: Uuid('The disk.'),
    topLayerId: Type.String({ minLength: 1 }),
    capacityBytes: Type.Integer({ minimum: 0 }),
    allocatedBytes: Type.Integer({
      minimum: 0,
      description: 'Virtual bytes some layer of its chain holds. In bytes.',
    }),
    extents: Type.Array(
      Type.Object(
        {
          offsetBytes: Type.Integer({ minimum: 0 }),
          lengthBytes: Type.Integer({ minimum: 1 }),
          layerId: Type.String({ description: 'The layer that answers for the range.' }),
          zero: Type.Boolean({
            description: 'Held, but reads as zeros (zero clusters, preallocation).',
          }),
          shared: Type.Boolean({
            description:
              'The layer is read by other disks too (a template, a snapshot a clone stands on).',
          }),
        },
        { additionalProperties: false },
      ),
      { description: 'Allocated ranges, merged, in offset order.' },
    ),
    bytesPerLayer: Type.Array(
      Type.Object(
        {
          layerId: Type.String(),
          mappedBytes: Type.Integer({ minimum: 0 }),
          shared: Type.Boolean(),
        },
        { additionalProperties: false },
      ),
      { description: 'The chain, top first (its lineage), with the bytes each layer answers for.' },
    ),
  },
  { additionalProperties: false },
);
const VmBlockMapsMeasuredDataV1 = Type.Object(
  {
    vmId: Uuid('The VM.'),
    taskId: Uuid('The task doing the work.'),
    disks: Type.Array(DiskBlockMapV1),
  },
  {
    additionalProperties: false,
    description:
      'A worker measured which layer holds each range of the VM’s disks, after changing them.',
  },
);

/** Before v2 a measure was one event, each extent listed: now runs of extents, in parts. */
export const vmBlockMapsMeasuredFromV1 = (data: unknown): VmBlockMapsMeasured['data'] => {
  const v1 = data as Static<typeof VmBlockMapsMeasuredDataV1>;
  return {
    vmId: v1.vmId,
    taskId: v1.taskId,
    part: 1,
    parts: 1,
    disks: v1.disks.map(({ extents, ...disk }) => ({
      ...disk,
      runs: runsOf({ extents, bytesPerLayer: disk.bytesPerLayer }),
      continued: false,
    })),
  };
};

export const VM_EVENT_EARLIER_VERSIONS: Partial<
  Record<VmEvent['type'], readonly EarlierVersion[]>
> = {
  VmCreated: [{ schema: without(VmCreatedData, ['poolId']), upcastToNext: vmCreatedFromV1 }],
  VmPowerChangeRequested: [
    { schema: without(VmPowerChangeRequestedData, ['forced']), upcastToNext: notForced },
  ],
  VmDeletionRequested: [
    { schema: without(VmDeletionRequestedData, ['forced']), upcastToNext: notForced },
  ],
  VmBlockMapsMeasured: [
    { schema: VmBlockMapsMeasuredDataV1, upcastToNext: vmBlockMapsMeasuredFromV1 },
  ],
};

/**
 * TaskQueued v2 (jobs on VMs' disks only) read as v3: every v2 job is a v3 job as it is; v3 added
 * a datastore's own job (restore-quarantined), which no v2 event carries.
 */
export const taskQueuedFromV2 = (data: unknown): unknown => data;

export const TASK_QUEUED_V2: EarlierVersion = {
  schema: TaskQueuedDataV2,
  upcastToNext: taskQueuedFromV2,
};
