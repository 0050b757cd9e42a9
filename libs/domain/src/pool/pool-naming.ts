/** Naming: {n} or {n:fixed=N}, names within the 15 characters a Windows desktop's NetBIOS name has. */
import type { ErrorReason } from '../shared/errors';
import type { PoolSettings } from './pool.events';

const NAME_TOKEN = /\{n(?::fixed=(\d+))?\}/g;
export const MACHINE_NAME_MAX_LENGTH = 15;

export function machineName(pattern: string, number: number): string {
  return pattern.replace(NAME_TOKEN, (_token, fixed?: string) =>
    fixed ? String(number).padStart(Number(fixed), '0') : String(number),
  );
}

/** Everything wrong with a naming pattern for a pool of this size. */
export function namingReasons(pattern: string, maxMachines: number): ErrorReason[] {
  const pointer = '/namingPattern';
  const tokens = [...pattern.matchAll(NAME_TOKEN)];
  const reasons: ErrorReason[] = [];
  if (tokens.length !== 1) {
    reasons.push({
      code: 'POOL.NAMING_TOKEN',
      detail: `The pattern needs exactly one {n} or {n:fixed=N} token; '${pattern}' has ${tokens.length}`,
      pointer,
    });
    return reasons;
  }
  const rest = pattern.replace(NAME_TOKEN, '');
  if (/[{}]/.test(rest)) {
    reasons.push({
      code: 'POOL.NAMING_UNKNOWN_TOKEN',
      detail: `Only {n} and {n:fixed=N} are tokens; '${pattern}' has another`,
      pointer,
    });
  }
  if (!/^[A-Za-z0-9-]*$/.test(rest)) {
    reasons.push({
      code: 'POOL.NAMING_CHARACTERS',
      detail: 'Machine names take letters, digits and hyphens only',
      pointer,
    });
  }
  const fixed = tokens[0][1] === undefined ? null : Number(tokens[0][1]);
  if (fixed !== null && (fixed < 1 || maxMachines > 10 ** fixed - 1)) {
    reasons.push({
      code: 'POOL.NAMING_TOO_FEW_DIGITS',
      detail: `{n:fixed=${fixed}} numbers up to ${10 ** fixed - 1} machines; the pool may have ${maxMachines}`,
      pointer,
    });
  }
  const longest = machineName(pattern, maxMachines);
  if (longest.length > MACHINE_NAME_MAX_LENGTH) {
    reasons.push({
      code: 'POOL.NAMING_TOO_LONG',
      detail: `'${longest}' has ${longest.length} characters; machine names have at most ${MACHINE_NAME_MAX_LENGTH}`,
      pointer,
    });
  }
  return reasons;
}

/** Everything wrong with a pool's settings: its naming pattern for its size, its spares. */
export function settingsReasons(
  settings: Pick<PoolSettings, 'namingPattern' | 'maxMachines' | 'spareMachines'>,
) {
  const reasons = namingReasons(settings.namingPattern, settings.maxMachines);
  if (settings.spareMachines > settings.maxMachines) {
    reasons.push({
      code: 'POOL.SPARES_ABOVE_MAXIMUM',
      detail: `${settings.spareMachines} spare machines do not fit in a maximum of ${settings.maxMachines}`,
      pointer: '/spareMachines',
    });
  }
  return reasons;
}
