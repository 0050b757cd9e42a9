import type { OvfProductProperty, OvfVirtualSystem, PackageReason } from '../model';

/**
 * ProductSection properties: their qualifiers (DSP0243 §9.5: MinLen, MaxLen, MinValue, MaxValue,
 * ValueMap) and the check of the values a caller sets at import, as vSphere checks vApp
 * properties before deploying.
 */

/** CIM types DSP0243 allows for a property, with the range of the integer ones. */
const INTEGER_RANGES: Record<string, [bigint, bigint]> = {
  uint8: [0n, 2n ** 8n - 1n],
  sint8: [-(2n ** 7n), 2n ** 7n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  sint16: [-(2n ** 15n), 2n ** 15n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
};
const OTHER_TYPES = new Set(['string', 'boolean', 'real32', 'real64']);

export function isKnownPropertyType(type: string): boolean {
  return Object.hasOwn(INTEGER_RANGES, type) || OTHER_TYPES.has(type);
}

export type PropertyQualifiers = NonNullable<OvfProductProperty['constraints']> & {
  allowedValues: string[] | null;
};
export type QualifierReading =
  { ok: true; qualifiers: PropertyQualifiers } | { ok: false; problem: string };

/**
 * Reads `MinLen(1),MaxLen(64),ValueMap{"a","b"}`. Qualifiers vSphere adds for its own UI
 * (`Ip`, `Ip(network)`) and unknown ones are kept out of the check rather than refused: they
 * restrict nothing Dolly can enforce.
 */
export function readQualifiers(text: string): QualifierReading {
  const qualifiers: PropertyQualifiers = { allowedValues: null };
  let index = 0;
  const skipSeparators = (): void => {
    while (index < text.length && /[\s,]/.test(text[index])) index += 1;
  };
  skipSeparators();
  while (index < text.length) {
    const nameMatch = /^[A-Za-z][A-Za-z0-9_]*/.exec(text.slice(index, index + 64));
    if (nameMatch === null)
      return { ok: false, problem: `unexpected '${text[index]}' at ${index}` };
    const name = nameMatch[0];
    index += name.length;
    if (text[index] === '(') {
      const end = text.indexOf(')', index);
      if (end < 0) return { ok: false, problem: `${name}( is not closed` };
      const argument = text.slice(index + 1, end).trim();
      index = end + 1;
      const limit = /^-?\d{1,20}$/.test(argument) ? Number(argument) : null;
      const numeric =
        name === 'MinLen' || name === 'MaxLen' || name === 'MinValue' || name === 'MaxValue';
      if (numeric && (limit === null || !Number.isSafeInteger(limit))) {
        return { ok: false, problem: `${name}(${argument.slice(0, 32)}) needs a whole number` };
      }
      if (name === 'MinLen') qualifiers.minLength = limit!;
      if (name === 'MaxLen') qualifiers.maxLength = limit!;
      if (name === 'MinValue') qualifiers.minValue = limit!;
      if (name === 'MaxValue') qualifiers.maxValue = limit!;
    } else if (text[index] === '{') {
      const values: string[] = [];
      index += 1;
      for (;;) {
        while (index < text.length && /[\s,]/.test(text[index])) index += 1;
        if (index >= text.length) return { ok: false, problem: `${name}{ is not closed` };
        if (text[index] === '}') {
          index += 1;
          break;
        }
        if (text[index] !== '"')
          return { ok: false, problem: `${name}{...} holds an unquoted value` };
        const end = text.indexOf('"', index + 1);
        if (end < 0) return { ok: false, problem: `a value of ${name}{...} is not closed` };
        values.push(text.slice(index + 1, end));
        index = end + 1;
      }
      if (name === 'ValueMap') qualifiers.allowedValues = values;
    }
    skipSeparators();
  }
  return { ok: true, qualifiers };
}

/** Why `value` does not fit the property's type and qualifiers, or null when it fits. */
export function valueProblem(property: OvfProductProperty, value: string): string | null {
  if (property.allowedValues !== null && !property.allowedValues.includes(value)) {
    return `'${value.slice(0, 64)}' is not one of ${property.allowedValues.map((allowed) => `'${allowed}'`).join(', ')}`;
  }
  const { minLength, maxLength, minValue, maxValue } = property.constraints ?? {};
  const range = INTEGER_RANGES[property.type];
  if (Object.hasOwn(INTEGER_RANGES, property.type)) {
    if (!/^[+-]?\d{1,20}$/.test(value.trim()))
      return `'${value.slice(0, 64)}' is not a whole number (${property.type})`;
    const number = BigInt(value.trim());
    if (number < range[0] || number > range[1])
      return `${value.trim()} is outside the range of ${property.type}`;
    if (minValue !== undefined && number < BigInt(minValue))
      return `${value.trim()} is less than ${minValue}`;
    if (maxValue !== undefined && number > BigInt(maxValue))
      return `${value.trim()} is more than ${maxValue}`;
    return null;
  }
  switch (property.type) {
    case 'boolean':
      return /^(true|false)$/i.test(value.trim())
        ? null
        : `'${value.slice(0, 64)}' is not true or false`;
    case 'real32':
    case 'real64': {
      const number = value.trim() === '' ? Number.NaN : Number(value);
      if (!Number.isFinite(number))
        return `'${value.slice(0, 64)}' is not a number (${property.type})`;
      if (minValue !== undefined && number < minValue) return `${number} is less than ${minValue}`;
      if (maxValue !== undefined && number > maxValue) return `${number} is more than ${maxValue}`;
      return null;
    }
    default: {
      const length = [...value].length;
      if (minLength !== undefined && length < minLength)
        return `it is ${length} characters, fewer than ${minLength}`;
      if (maxLength !== undefined && length > maxLength)
        return `it is ${length} characters, more than ${maxLength}`;
      return null;
    }
  }
}

/**
 * Checks the values a caller gives a system's product properties (keys as `OvfProductProperty.key`):
 * every unknown key, property not user-configurable and value that does not fit, all at once.
 * The values are not stored anywhere: an empty answer means they can be applied as given.
 */
export function applyProductProperties(
  system: OvfVirtualSystem,
  values: Record<string, string>,
): PackageReason[] {
  const reasons: PackageReason[] = [];
  const byKey = new Map(system.products.map((property) => [property.key, property]));
  for (const [key, value] of Object.entries(values)) {
    const at = `/VirtualSystem[@id='${system.id}']/ProductSection/Property[@key='${key}']`;
    const property = byKey.get(key);
    if (property === undefined) {
      reasons.push({
        code: 'OVF.UNKNOWN_PROPERTY',
        detail: `system ${system.id} has no property ${key}`,
        at,
      });
      continue;
    }
    if (!property.userConfigurable) {
      reasons.push({
        code: 'OVF.PROPERTY_NOT_CONFIGURABLE',
        detail: `property ${key} is not user-configurable`,
        at,
      });
    }
    if (typeof value !== 'string') {
      reasons.push({
        code: 'OVF.PROPERTY_VALUE_INVALID',
        detail: `the value of property ${key} is not text`,
        at,
      });
      continue;
    }
    const problem = valueProblem(property, value);
    if (problem !== null) {
      const code =
        property.allowedValues !== null && !property.allowedValues.includes(value)
          ? 'OVF.PROPERTY_VALUE_NOT_ALLOWED'
          : 'OVF.PROPERTY_VALUE_INVALID';
      reasons.push({ code, detail: `property ${key}: ${problem}`, at });
    }
  }
  return reasons;
}
