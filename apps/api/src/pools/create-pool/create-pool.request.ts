import { POOL_MAX_DATASTORES, POOL_MAX_HOSTS, PoolSettings, Uuid } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

export const CreatePoolRequest = Type.Composite(
  [
    PoolSettings,
    Type.Object({
      goldenVmId: Uuid('The golden image: a VM with the snapshot to publish.'),
      snapshotId: Uuid('The snapshot published as the pool’s image.'),
      hostIds: Type.Optional(
        Type.Array(Uuid('A host.'), {
          minItems: 1,
          maxItems: POOL_MAX_HOSTS,
          uniqueItems: true,
          description: 'The hosts its machines run on: a parent runs on each, for each datastore.',
        }),
      ),
      datastoreIds: Type.Optional(
        Type.Array(Uuid('A datastore.'), {
          minItems: 1,
          maxItems: POOL_MAX_DATASTORES,
          uniqueItems: true,
          description: 'The datastores its machines stand on: a replica on each.',
        }),
      ),
      hostId: Type.Optional(Uuid('One host: short for hostIds with one item.')),
      datastoreId: Type.Optional(Uuid('One datastore: short for datastoreIds with one item.')),
    }),
  ],
  { additionalProperties: false, description: 'A desktop pool of instant clones.' },
);
export type CreatePoolRequest = Static<typeof CreatePoolRequest>;
