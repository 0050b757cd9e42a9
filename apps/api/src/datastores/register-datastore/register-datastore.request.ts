import { DatastoreRegisteredData } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

const { name, capacityBytes, overcommitRatio } = DatastoreRegisteredData.properties;
export const RegisterDatastoreRequest = Type.Object(
  {
    name,
    capacityBytes,
    folder: Type.String({
      minLength: 1,
      maxLength: 4096,
      pattern: '^/',
      description:
        'Absolute path of its folder, as the workers serving it see it: strictly inside one of the datastore roots (DOLLY_DATASTORE_ROOTS) once symlinks are resolved, inside or around no other datastore, and absent or empty (or, with adopt, holding a Dolly datastore).',
    }),
    overcommitRatio: Type.Optional({ ...overcommitRatio, default: 1 }),
    adopt: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          'Take over the Dolly datastore the folder already holds (another installation’s, or one removed from this one), as it is and under the id it carries.',
      }),
    ),
  },
  { additionalProperties: false, description: 'A datastore to add.' },
);
export type RegisterDatastoreRequest = Static<typeof RegisterDatastoreRequest>;
