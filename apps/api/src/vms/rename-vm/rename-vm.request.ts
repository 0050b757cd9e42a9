import { InventoryName } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

export const RenameVmRequest = Type.Object(
  { name: InventoryName('New display name.') },
  { additionalProperties: false },
);
export type RenameVmRequest = Static<typeof RenameVmRequest>;
