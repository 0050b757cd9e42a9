import type { Instant } from '@dolly/read-models';
import { Type } from '@sinclair/typebox';

/** `asOf`: the instant a query answers for, an RFC 3339 time or a global position. */
export const AsOfParam = Type.Union(
  [
    Type.String({ format: 'date-time' }),
    Type.String({ pattern: '^[0-9]{1,18}$', description: 'A global position.' }),
  ],
  {
    description:
      'As it was at this instant: an RFC 3339 time (what had occurred by then) or a global position (what the store held up to it); default now.',
  },
);

export function instantOf(text: string): Instant {
  return /^[0-9]+$/.test(text) ? { position: text } : { time: text };
}
