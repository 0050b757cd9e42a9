import { ValidationError } from '@dolly/domain';
import { Type } from '@sinclair/typebox';
import {
  type FindOptionsOrder,
  type FindOptionsWhere,
  MoreThan,
  type ObjectLiteral,
  type Repository,
} from 'typeorm';

/** Pages are walked with an opaque cursor: the key of the last item seen, never an offset. */
export const PageQuery = {
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 500, default: 50, description: 'Items per page (1-500).' }),
  ),
  cursor: Type.Optional(
    Type.String({ maxLength: 200, description: 'nextCursor of the previous page.' }),
  ),
};

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export const pageSchema = (item: ReturnType<typeof Type.Object> | ReturnType<typeof Type.Any>) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export function encodeCursor(key: string): string {
  return Buffer.from(JSON.stringify({ after: key })).toString('base64url');
}

/** A cursor this API did not issue (or not for this query). */
export const badCursor = () =>
  new ValidationError('REQUEST.BAD_CURSOR', 'The cursor was not issued by this API', [
    {
      code: 'REQUEST.BAD_CURSOR',
      detail: 'is not a cursor from a previous page',
      pointer: '/query/cursor',
    },
  ]);

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  const after = (decoded as { after?: unknown } | null)?.after;
  if (typeof after !== 'string') throw badCursor();
  return after;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Keys that are counts (stream versions, positions): never negative, within the column's range. */
const COUNT = /^(0|[1-9][0-9]*)$/;
const COUNT_LIMITS: Record<string, bigint> = {
  integer: 2n ** 31n - 1n,
  int: 2n ** 31n - 1n,
  bigint: 2n ** 63n - 1n,
};

/**
 * A cursor's key as the key column reads it. A cursor comes from the client: a key the column
 * cannot hold (not a uuid, not a count, out of range) is a bad cursor, not a database error.
 */
function cursorKey(after: string, columnType: unknown): unknown {
  if (columnType === 'uuid') {
    if (!UUID.test(after)) throw badCursor();
    return after;
  }
  const limit = typeof columnType === 'string' ? COUNT_LIMITS[columnType] : undefined;
  if (limit !== undefined) {
    if (!COUNT.test(after) || after.length > 19 || BigInt(after) > limit) throw badCursor();
    return columnType === 'bigint' ? after : Number(after);
  }
  if (after === '') throw badCursor();
  return after;
}

/** Fetch one more than asked: if it comes, there is a next page. */
export function toPage<T>(rows: T[], limit: number, keyOf: (row: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  return {
    items,
    nextCursor: rows.length > limit ? encodeCursor(keyOf(items[items.length - 1])) : null,
  };
}

/**
 * One page of a read-model table in key order, after the cursor's key: what every list endpoint
 * does. The key is unique and indexed, so a page costs one index range scan.
 */
export async function findPage<Row extends ObjectLiteral, View>(
  repository: Repository<Row>,
  options: {
    where?: FindOptionsWhere<Row>;
    key: keyof Row & string;
    limit: number;
    cursor?: string;
    view: (row: Row) => View;
  },
): Promise<Page<View>> {
  const after = decodeCursor(options.cursor);
  const where = {
    ...options.where,
    ...(after === undefined
      ? {}
      : {
          [options.key]: MoreThan(
            cursorKey(after, repository.metadata.findColumnWithPropertyName(options.key)?.type),
          ),
        }),
  };
  const rows = await repository.find({
    where: where as FindOptionsWhere<Row>,
    order: { [options.key]: 'ASC' } as FindOptionsOrder<Row>,
    take: options.limit + 1,
  });
  const page = toPage(rows, options.limit, (row) => String(row[options.key]));
  return { items: page.items.map(options.view), nextCursor: page.nextCursor };
}
