import { type TObject, type TProperties, type TSchema, Type } from '@sinclair/typebox';

/** An event's schema as an earlier version published it, and how its data reads as the next. */
export interface EarlierVersion {
  schema: TSchema;
  upcastToNext: (data: unknown) => unknown;
}

/** The same object schema without the fields a later version added (they were appended last). */
export function without(schema: TObject, added: readonly string[]): TObject {
  const { properties, required: _required, type: _type, ...options } = schema;
  const kept: TProperties = Object.fromEntries(
    Object.entries(properties).filter(([name]) => !added.includes(name)),
  );
  return Type.Object(kept, options);
}
