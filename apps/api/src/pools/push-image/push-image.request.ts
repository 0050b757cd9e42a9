import { POOL_ROLLOUT, StringEnum, Uuid } from '@dolly/domain';
import { type Static, Type } from '@sinclair/typebox';

/** How a push (or a rollback) moves desktops in use to the new image. */
export const Rollout = StringEnum(
  POOL_ROLLOUT,
  'How desktops in use move to the new image: at-logoff (default: as their users log off) or immediate (their users are logged off now). Spares move at once, never below the spare count.',
);

export const PushImageRequest = Type.Object(
  {
    goldenVmId: Uuid('The golden image: a VM with the snapshot to publish.'),
    snapshotId: Uuid('The snapshot published as the pool’s new image.'),
    rollout: Type.Optional(Rollout),
    startAt: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          'When to start (e.g. tonight, outside working hours); absent or past: now. Until then the push can be cancelled (DELETE .../image/schedule).',
      }),
    ),
  },
  { additionalProperties: false, description: 'Push a new image to a pool.' },
);
export type PushImageRequest = Static<typeof PushImageRequest>;
