import { type Static, Type } from '@sinclair/typebox';

/** Where the history stops being what its chain says (libs/event-store/src/event-chain.ts). */
export const ChainBreakView = Type.Object(
  {
    code: Type.String({
      description:
        'CHAIN.LINK_MISSING, CHAIN.EVENT_MISSING, CHAIN.EVENT_MOVED, CHAIN.STREAM_GAP, CHAIN.CONTENT_CHANGED, CHAIN.LINK_CHANGED, CHAIN.HEAD_CHANGED, CHAIN.EVENT_UNCHAINED, CHAIN.CHECKPOINT_UNSIGNED or CHAIN.CHECKPOINT_MISMATCH.',
    }),
    detail: Type.String(),
    chainSeq: Type.Union([
      Type.String({ description: 'The link in the global chain (1, 2, ...).' }),
      Type.Null(),
    ]),
    globalPosition: Type.Union([Type.String(), Type.Null()]),
    streamId: Type.Union([Type.String(), Type.Null()]),
    streamVersion: Type.Union([Type.Integer(), Type.Null()]),
  },
  { description: 'The first broken link, in chain order.' },
);

export const ChainVerificationView = Type.Object(
  {
    intact: Type.Boolean(),
    firstBreak: Type.Union([ChainBreakView, Type.Null()]),
    linksVerified: Type.Integer({ minimum: 0 }),
    head: Type.Object({
      chainSeq: Type.String(),
      chainHash: Type.String({ description: 'SHA-256, hex.' }),
    }),
    checkpoints: Type.Object({
      verified: Type.Integer({
        minimum: 0,
        description: 'Signed with a configured key, and the hash the history leads to.',
      }),
      unknownKey: Type.Integer({
        minimum: 0,
        description: 'Signed with a key the API was not given: counted, not judged.',
      }),
      latest: Type.Union([
        Type.Object({
          chainSeq: Type.String(),
          signedAt: Type.String({ format: 'date-time' }),
          keyId: Type.String(),
        }),
        Type.Null(),
      ]),
    }),
  },
  {
    description:
      'The whole event history checked against its hash chains and its signed checkpoints.',
  },
);
export type ChainVerificationView = Static<typeof ChainVerificationView>;

/** A line of the streamed answer (Accept: application/x-ndjson). */
export const ChainVerificationLine = Type.Union([
  Type.Object({ linksVerified: Type.Integer(), linksTotal: Type.Integer() }),
  Type.Object({ result: ChainVerificationView }),
  Type.Object({ error: Type.Object({ detail: Type.String() }) }),
]);
export type ChainVerificationLine = Static<typeof ChainVerificationLine>;
