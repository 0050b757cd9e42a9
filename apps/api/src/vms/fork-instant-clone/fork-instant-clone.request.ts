import { InventoryName } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

export const InstantCloneRequest = Type.Object(
  {
    name: InventoryName('Name of the instant clone.'),
    folder: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        pattern: '^/',
        description: 'Default: the parent’s.',
      }),
    ),
  },
  { additionalProperties: false, description: 'An instant clone of a running VM.' },
);
export type InstantCloneRequest = Static<typeof InstantCloneRequest>;
