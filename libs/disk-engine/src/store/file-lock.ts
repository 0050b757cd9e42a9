/**
 * Locks between processes (and hosts sharing the datastore's file system): open file description
 * locks (Linux `F_OFD_SETLK`, through fs-native-extensions). Node has no flock; we take the
 * kernel's locks rather than lock files with owner pids, because the kernel drops them when the
 * holder dies however it dies (SIGKILL included), so there is never a stale lock to judge or take
 * over. On NFS the Linux client turns them into byte-range locks held by the server, which drops a
 * dead host's locks when its lease expires (90 s by default).
 *
 * OFD locks belong to the open file, not to the process: two handles conflict even in one process,
 * and closing some other handle of the same file (as POSIX `fcntl` locks would) does not drop them.
 * Node opens files close-on-exec, so no child (qemu-img, the storage daemon) inherits a lock.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryLock, unlock } from 'fs-native-extensions';
import { DiskEngineError } from '../errors';

/** One byte of a lock file; different bytes are independent locks. */
export type LockRange = number;

/** Opens (creating it if needed) a file to lock: an exclusive lock needs it open for writing. */
export async function openLockFile(path: string): Promise<FileHandle> {
  return open(path, 'a+', 0o600);
}

/** Takes the lock if nobody else holds it; never waits. */
export function tryLockRange(handle: FileHandle, range: LockRange): boolean {
  return tryLock(handle.fd, range, 1);
}

export function unlockRange(handle: FileHandle, range: LockRange): void {
  unlock(handle.fd, range, 1);
}

/** First pause between attempts; doubled up to MAX_PAUSE_MS, with jitter so waiters do not march. */
const FIRST_PAUSE_MS = 1;
const MAX_PAUSE_MS = 16;

/**
 * Waits for the lock by polling. A blocking `F_OFD_SETLKW` would hold one of libuv's four pool
 * threads for as long as the other process keeps the lock and cannot be given up at a deadline;
 * the sections this guards take milliseconds, so a short poll costs little and stays bounded.
 * Past `timeoutMs` it fails with DISK.BUSY (retryable).
 */
export async function lockRange(
  handle: FileHandle,
  range: LockRange,
  timeoutMs: number,
  what: Record<string, unknown>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let pause = FIRST_PAUSE_MS; !tryLockRange(handle, range);) {
    if (Date.now() > deadline) {
      throw new DiskEngineError('DISK.BUSY', `another worker holds the lock for ${timeoutMs} ms`, {
        ...what,
        timeoutMs,
      });
    }
    await sleep(pause * (0.5 + Math.random()));
    pause = Math.min(pause * 2, MAX_PAUSE_MS);
  }
}
