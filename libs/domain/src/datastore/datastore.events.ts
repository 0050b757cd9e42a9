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

export type DatastoreRegistered = {
  type: 'DatastoreRegistered';
  data: Static<typeof DatastoreRegisteredData>;
};

export type DatastoreEvent = DatastoreRegistered;
