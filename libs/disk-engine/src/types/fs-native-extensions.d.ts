// The part of fs-native-extensions (no types of its own) that store/file-lock.ts uses. On Linux
// these are open file description locks (fcntl F_OFD_SETLK) on `length` bytes from `offset`.
declare module 'fs-native-extensions' {
  /** True when granted; false when another open file holds a conflicting lock. */
  export function tryLock(
    fd: number,
    offset?: number,
    length?: number,
    options?: { shared?: boolean },
  ): boolean;
  export function unlock(fd: number, offset?: number, length?: number): void;
}
