/**
 * Whole numbers and DSP0004 programmatic units as descriptors write them. Every value is checked
 * to stay a safe integer after scaling, so a later sum or comparison never loses precision.
 */

const WHOLE_NUMBER = /^\s*\+?(\d{1,30})\s*$/;

/** A non-negative whole number within Number.MAX_SAFE_INTEGER, or null. */
export function parseWholeNumber(text: string): number | null {
  const match = WHOLE_NUMBER.exec(text);
  if (match === null) return null;
  const value = BigInt(match[1]);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
}

/** Byte multipliers of the unit names tools write besides the programmatic `byte * 2^N`. */
const NAMED_BYTE_UNITS: Record<string, bigint> = {
  byte: 1n,
  bytes: 1n,
  kilobytes: 1024n,
  kb: 1024n,
  megabytes: 1024n ** 2n,
  mb: 1024n ** 2n,
  gigabytes: 1024n ** 3n,
  gb: 1024n ** 3n,
  terabytes: 1024n ** 4n,
  tb: 1024n ** 4n,
};

const PROGRAMMATIC_BYTE_UNIT = /^byte\s*\*\s*(2|10)\s*\^\s*(\d{1,2})$/;

/** The bytes one unit stands for (`byte * 2^20`, `MegaBytes`, ...), or null when not a byte unit. */
export function byteMultiplier(units: string): bigint | null {
  const normalized = units.trim().toLowerCase();
  const named = NAMED_BYTE_UNITS[normalized];
  if (Object.hasOwn(NAMED_BYTE_UNITS, normalized)) return named;
  const match = PROGRAMMATIC_BYTE_UNIT.exec(normalized);
  if (match === null) return null;
  const exponent = BigInt(match[2]);
  // 2^60 and 10^18 are already past any disk; larger exponents only serve to overflow.
  if ((match[1] === '2' && exponent > 60n) || (match[1] === '10' && exponent > 18n)) return null;
  return BigInt(match[1]) ** exponent;
}

export type ScaledNumber = { ok: true; value: number } | { ok: false; problem: string };

/** `quantity` (text) times the unit's multiplier: a positive safe integer of bytes, or what is wrong. */
export function scaleToBytes(
  quantity: string,
  units: string | null,
  defaultUnits: string,
): ScaledNumber {
  const multiplier = byteMultiplier(units ?? defaultUnits);
  if (multiplier === null) return { ok: false, problem: `unknown allocation units '${units}'` };
  const match = WHOLE_NUMBER.exec(quantity);
  if (match === null)
    return { ok: false, problem: `'${quantity.slice(0, 64)}' is not a whole number` };
  const bytes = BigInt(match[1]) * multiplier;
  if (bytes === 0n) return { ok: false, problem: 'it is zero' };
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER))
    return { ok: false, problem: `${bytes} bytes is beyond the largest safe integer` };
  return { ok: true, value: Number(bytes) };
}
