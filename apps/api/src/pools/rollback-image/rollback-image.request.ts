import { type Static, Type } from '@sinclair/typebox';
import { Rollout } from '../push-image/push-image.request';

export const RollbackImageRequest = Type.Object(
  { rollout: Type.Optional(Rollout) },
  { additionalProperties: false, description: 'Push the pool’s previous image again.' },
);
export type RollbackImageRequest = Static<typeof RollbackImageRequest>;
