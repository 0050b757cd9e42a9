/**
 * The pause before the next try of something that keeps failing (a broker away, a datastore that
 * cannot be opened, a job nobody took): `first` after the first failure (`attempt` 0), doubling
 * with each one after, never longer than `longest`.
 */
export function doublingPause(attempt: number, first: number, longest: number): number {
  return Math.min(longest, first * 2 ** Math.min(Math.max(attempt, 0), 30));
}
