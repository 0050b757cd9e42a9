import { type Static, Type } from '@sinclair/typebox';

export const EntitlementRequest = Type.Object(
  {
    userId: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'The user who needs a desktop, as the broker names them.',
    }),
  },
  { additionalProperties: false, description: 'Give a user a desktop of the pool.' },
);
export type EntitlementRequest = Static<typeof EntitlementRequest>;
