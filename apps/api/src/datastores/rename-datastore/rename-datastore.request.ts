import { InventoryName } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

export const RenameDatastoreRequest = Type.Object(
  { name: InventoryName('Its new name.') },
  { additionalProperties: false },
);
export type RenameDatastoreRequest = Static<typeof RenameDatastoreRequest>;
