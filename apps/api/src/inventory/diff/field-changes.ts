/** One field of a representation that differs: where (a JSON pointer), what it was, what it is. */
export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const pointer = (path: string, key: string | number) =>
  `${path}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;

/**
 * Every field that differs between two representations of one object, deepest first named:
 * objects field by field, lists item by item while they keep their length (else the list as a
 * whole), anything else by value. `ignore` names top-level fields left out.
 */
export function fieldChanges(
  before: unknown,
  after: unknown,
  ignore: readonly string[] = [],
  path = '',
): FieldChange[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
      (key) => path !== '' || !ignore.includes(key),
    );
    return keys.flatMap((key) => fieldChanges(before[key], after[key], ignore, pointer(path, key)));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length)
    return before.flatMap((item, index) =>
      fieldChanges(item, after[index], ignore, pointer(path, index)),
    );
  if (JSON.stringify(before ?? null) === JSON.stringify(after ?? null)) return [];
  return [{ field: path, from: before ?? null, to: after ?? null }];
}
