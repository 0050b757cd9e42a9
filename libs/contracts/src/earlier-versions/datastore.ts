import { Bytes, type DatastoreRegistered, InventoryName, Uuid } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';
import type { EarlierVersion } from './earlier-version';

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
