import { type Static, Type } from '@sinclair/typebox';

export const TakeSnapshotRequest = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 80 }),
    description: Type.Optional(Type.String({ maxLength: 1000, default: '' })),
  },
  { additionalProperties: false },
);
export type TakeSnapshotRequest = Static<typeof TakeSnapshotRequest>;
