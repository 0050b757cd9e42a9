import {
  type Instant,
  type RowAsOf,
  type StateProjection,
  asEntity,
  objectsAsOf,
  pageAsOf,
} from '@dolly/read-models';
import { Type } from '@sinclair/typebox';
import type { Pool } from 'pg';
import { type Static } from '@sinclair/typebox';
import { type Page, PageQuery, decodeCursor, encodeCursor } from './pagination';

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

/** The query of one object: now, or as of an instant. */
export const AsOfQuery = Type.Object(
  { asOf: Type.Optional(AsOfParam) },
  { additionalProperties: false },
);
export type AsOfQuery = Static<typeof AsOfQuery>;

/** The query of a listing: a page, now or as of an instant. */
export const AsOfPageQuery = Type.Object(
  { ...PageQuery, asOf: Type.Optional(AsOfParam) },
  { additionalProperties: false },
);
export type AsOfPageQuery = Static<typeof AsOfPageQuery>;

export function instantOf(text: string): Instant {
  return /^[0-9]+$/.test(text) ? { position: text } : { time: text };
}

/** An `asOf` given or not: undefined answers from the live read models. */
export const optionalInstant = (text: string | undefined): Instant | undefined =>
  text === undefined ? undefined : instantOf(text);

/**
 * A page of objects as they were at an instant, shown as live rows are: the same cursors, the
 * same views; `keep` filters on the row's columns.
 */
export async function pageOfViewsAsOf<State, Row, View>(
  pool: Pool,
  projection: StateProjection<State>,
  instant: Instant,
  page: { cursor: string | undefined; limit: number; keep?: (row: RowAsOf<State>) => boolean },
  view: (row: Row) => View,
): Promise<Page<View>> {
  const found = await pageAsOf(pool, projection, instant, {
    after: decodeCursor(page.cursor),
    limit: page.limit,
    keep: page.keep ?? (() => true),
  });
  const items = found.rows.map((row) => view(asEntity<Row, State>(projection, row)));
  const last = found.rows.at(-1);
  return { items, nextCursor: found.more && last ? encodeCursor(last.id) : null };
}

/** One object as it was at an instant, or undefined when it did not exist then. */
export async function viewAsOf<State, Row, View>(
  pool: Pool,
  projection: StateProjection<State>,
  instant: Instant,
  id: string,
  view: (row: Row) => View,
): Promise<View | undefined> {
  const [then] = await objectsAsOf(pool, projection, instant, [id]);
  return then && view(asEntity<Row, State>(projection, then));
}
