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
