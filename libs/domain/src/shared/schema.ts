import { Type } from '@sinclair/typebox';

/**
 * Building blocks shared by event and command schemas. TypeBox gives one definition that is both
 * the TypeScript type and the JSON Schema published to consumers.
 */
export const Uuid = (description: string) => Type.String({ format: 'uuid', description });

/** A SHA-256 digest, lower-case hex. */
export const Sha256 = (description: string) =>
  Type.String({ pattern: '^[0-9a-f]{64}$', description });

/** vSphere limits inventory names to 80 characters; path separators would break folder paths. */
export const InventoryName = (description: string) =>
  Type.String({ minLength: 1, maxLength: 80, pattern: '^[^/\\\\\\u0000-\\u001f]+$', description });

export const Bytes = (description: string) =>
  Type.Integer({
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description: `${description} In bytes.`,
  });

export const HardwareVersionSchema = Type.String({
  pattern: '^vmx-\\d{1,3}$',
  description: 'Virtual hardware version, as vSphere names it (vmx-19).',
});

/** A string enum as plain JSON Schema (`enum`), which reads better for consumers than anyOf of consts. */
export const StringEnum = <const T extends readonly string[]>(values: T, description: string) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], description });
