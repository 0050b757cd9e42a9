import { type Static, Type } from '@sinclair/typebox';

/** What every refusal and error answers, as application/problem+json (libs/platform's problem()). */
export const Problem = Type.Object(
  {
    type: Type.String({ description: 'urn:dolly:problem:<code>' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable code to branch on (VM.NOT_POWERED_OFF...).' }),
    instance: Type.String(),
    correlationId: Type.Optional(Type.String()),
    retryAfterSeconds: Type.Optional(
      Type.Integer({ description: '429 only: as Retry-After says.' }),
    ),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          code: Type.String(),
          detail: Type.String(),
          pointer: Type.Optional(Type.String()),
        }),
        {
          description: 'Every reason at once: each bad field, each broken rule.',
        },
      ),
    ),
  },
  { description: 'RFC 9457 problem details.' },
);
export type Problem = Static<typeof Problem>;
