import bytes from 'bytes';
import { InvalidArgumentError } from 'commander';

/**
 * Sizes on the command line: 512, 4GiB, 4GB, 1.5TiB. Units are binary (1 KB = 1 KiB = 1024 bytes),
 * as vSphere counts disk and memory sizes.
 */
export function parseSize(text: string): number {
  const value = bytes.parse(text.replace(/iB$/i, 'B'));
  if (value === null || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`'${text}' is not a size (try 4GiB, 512MiB, 1TiB)`);
  }
  return Math.round(value);
}

export function parseInteger(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value)) throw new InvalidArgumentError(`'${text}' is not a whole number`);
  return value;
}

export function parseRatio(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 1)
    throw new InvalidArgumentError(`'${text}' is not a ratio of 1 or more`);
  return value;
}
