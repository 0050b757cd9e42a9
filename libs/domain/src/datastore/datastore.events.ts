import { type Static, Type } from '@sinclair/typebox';
import { Bytes, InventoryName, Uuid } from '../shared/schema';

export const DatastoreRegisteredData = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    name: InventoryName('Datastore name, unique in the inventory.'),
    capacityBytes: Bytes('Usable capacity.'),
    folder: Type.String({
      minLength: 1,
      maxLength: 4096,
      pattern: '^/',
      description:
        'Absolute path of the folder holding its disks, with symlinks resolved: inside one of the datastore roots the operator allows, and inside or around no other datastore.',
    }),
    overcommitRatio: Type.Number({
      minimum: 1,
      maximum: 100,
      description:
        'How far thin provisioning may promise beyond capacity: 1 means never promise more than capacity.',
    }),
    adopted: Type.Boolean({
      description:
        "The folder already held a Dolly datastore (another installation's, or this one's before it was removed), taken over as it is, under the id it carries; false: the folder was empty or absent and is made a new datastore.",
    }),
  },
  { additionalProperties: false, description: 'A datastore joined the inventory.' },
);

export const DatastoreRenamedData = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    name: InventoryName('Its new name.'),
    previousName: InventoryName('Its name before.'),
  },
  { additionalProperties: false, description: 'A datastore was renamed.' },
);

export const DatastoreRemovedData = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    name: InventoryName('Its name when it was removed.'),
    folder: Type.String({
      minLength: 1,
      maxLength: 4096,
      description:
        'Its folder, left as it is on the storage (its Dolly metadata included), so it can be adopted again.',
    }),
  },
  {
    additionalProperties: false,
    description:
      'A datastore left the inventory, with nothing standing on it; its folder is kept, no longer served.',
  },
);

export const SpaceClaim = Type.Object(
  {
    diskId: Uuid('The disk (or memory image) the space is for.'),
    physicalBytes: Bytes(
      'What it may take on the datastore: full capacity if thick, the measured need if thin.',
    ),
    provisionedBytes: Bytes(
      'What it promises the guest (its capacity), counted against capacity × overcommit ratio.',
    ),
  },
  { additionalProperties: false },
);
export type SpaceClaim = Static<typeof SpaceClaim>;

export const DatastoreSpaceReservedData = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    taskId: Uuid('The task making the disks.'),
    claims: Type.Array(SpaceClaim, {
      minItems: 1,
      description: 'A claim for a disk that has one already replaces it.',
    }),
  },
  {
    additionalProperties: false,
    description: 'Space was set aside for disks, before any byte of them was written.',
  },
);

export const DatastoreSpaceReleasedData = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    diskIds: Type.Array(Uuid('A disk whose claim ends.'), { minItems: 1 }),
    reason: Type.String({
      description: 'Why: the disk was deleted, or the task making it failed.',
    }),
  },
  { additionalProperties: false, description: 'Disks gave their space back.' },
);

export const DatastoreUsageMeasuredData = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    provisionedBytes: Bytes('What its disks may grow to (the sum of their capacities).'),
    usedBytes: Bytes('What its layer files take on the file system.'),
    sharedBytes: Bytes('Used bytes in layers read by two or more disks.'),
    ownBytes: Bytes('Used bytes in layers read by one disk.'),
  },
  {
    additionalProperties: false,
    description: 'A worker measured what the datastore holds, after changing it.',
  },
);

const WorkerIdSchema = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '^[A-Za-z0-9._-]+$',
  description: 'The worker that tried to open it.',
});

export const DatastoreInaccessibleData = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    workerId: WorkerIdSchema,
    code: Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        'Why, as a stable code: DISK.NOT_FOUND, DISK.DATASTORE_FOREIGN, DISK.DATASTORE_NOT_EMPTY, DISK.IO.<errno>, DATASTORE.FOLDER_...',
    }),
    reason: Type.String({ maxLength: 4000, description: 'Why, for the operator.' }),
  },
  {
    additionalProperties: false,
    description:
      "A worker cannot open the datastore's folder: it serves its other datastores and tries this one again, backing off. Its disks cannot be reached through that worker until it is accessible again.",
  },
);

export const DatastoreAccessibleData = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    workerId: WorkerIdSchema,
  },
  {
    additionalProperties: false,
    description: 'A worker that could not open the datastore opened it again and serves it.',
  },
);

export const QuarantineEntry = Type.Object(
  {
    kind: Type.Union([Type.Literal('layer'), Type.Literal('file')], {
      description:
        'layer: a quarantined layer (its file in place, refused to every use); file: an image no layer named, moved to .dolly/quarantine/.',
    }),
    entry: Type.String({
      minLength: 1,
      maxLength: 255,
      description: 'The layer id, or the file name in .dolly/quarantine/.',
    }),
    fileName: Type.String({ minLength: 1, maxLength: 255 }),
    sizeBytes: Bytes('What its file takes.'),
    diskIds: Type.Array(Type.String({ minLength: 1, maxLength: 128 }), {
      maxItems: 1000,
      description: 'layer: the disks whose chain reads it.',
    }),
    restorable: Type.Boolean({
      description: 'A quarantined layer may be restored once sound; a moved-aside file cannot.',
    }),
  },
  { additionalProperties: false },
);
export type QuarantineEntry = Static<typeof QuarantineEntry>;

export const DatastoreQuarantineObservedData = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    workerId: WorkerIdSchema,
    entries: Type.Array(QuarantineEntry, {
      maxItems: 1000,
      description: 'Everything check has moved aside on it now (empty: nothing).',
    }),
  },
  {
    additionalProperties: false,
    description:
      'A worker looked at what check moved aside on the datastore (after its start, a check or a restore) and it differs from what was recorded.',
  },
);
export type DatastoreQuarantineObserved = {
  type: 'DatastoreQuarantineObserved';
  data: Static<typeof DatastoreQuarantineObservedData>;
};

export const DatastoreLayerRestoredData = Type.Object(
  {
    datastoreId: Uuid('The datastore.'),
    layerId: Type.String({
      minLength: 1,
      maxLength: 128,
      description: 'The layer taken back: it leaves the quarantine list.',
    }),
    taskId: Uuid('The restore task an admin asked for.'),
    workerId: WorkerIdSchema,
  },
  {
    additionalProperties: false,
    description:
      'A quarantined layer, checked again by a worker (a sound qcow2 on its backing, a regular file, nothing below it quarantined), was taken back into use.',
  },
);
export type DatastoreLayerRestored = {
  type: 'DatastoreLayerRestored';
  data: Static<typeof DatastoreLayerRestoredData>;
};

export type DatastoreInaccessible = {
  type: 'DatastoreInaccessible';
  data: Static<typeof DatastoreInaccessibleData>;
};
export type DatastoreAccessible = {
  type: 'DatastoreAccessible';
  data: Static<typeof DatastoreAccessibleData>;
};

export type DatastoreUsageMeasured = {
  type: 'DatastoreUsageMeasured';
  data: Static<typeof DatastoreUsageMeasuredData>;
};
export type DatastoreRegistered = {
  type: 'DatastoreRegistered';
  data: Static<typeof DatastoreRegisteredData>;
};
export type DatastoreRenamed = {
  type: 'DatastoreRenamed';
  data: Static<typeof DatastoreRenamedData>;
};
export type DatastoreRemoved = {
  type: 'DatastoreRemoved';
  data: Static<typeof DatastoreRemovedData>;
};
export type DatastoreSpaceReserved = {
  type: 'DatastoreSpaceReserved';
  data: Static<typeof DatastoreSpaceReservedData>;
};
export type DatastoreSpaceReleased = {
  type: 'DatastoreSpaceReleased';
  data: Static<typeof DatastoreSpaceReleasedData>;
};

export type DatastoreEvent =
  | DatastoreRegistered
  | DatastoreRenamed
  | DatastoreRemoved
  | DatastoreSpaceReserved
  | DatastoreSpaceReleased
  | DatastoreUsageMeasured
  | DatastoreInaccessible
  | DatastoreAccessible
  | DatastoreQuarantineObserved
  | DatastoreLayerRestored;
