/**
 * A few MiB a datastore keeps for its own bookkeeping (`.dolly/reserve`, written in full, so
 * the file system holds the blocks): when a write of the operation log finds the file system
 * full (ENOSPC), the reserve is let go and the write tried again. A full datastore so still logs
 * the deletes that free it. The reserve is made again once there is room (after an operation).
 */
import { constants } from 'node:fs';
import { access, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Two log steps: a new segment and one step of growth of the current one. */
export const DEFAULT_RESERVE_BYTES = 2 * 1024 * 1024;

export const isNoSpace = (error: unknown) =>
  (error as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC' ||
  (error as NodeJS.ErrnoException | undefined)?.code === 'EDQUOT';

export class SpaceReserve {
  /** Whether the reserve is known to stand (undefined: not looked at yet). */
  private present: boolean | undefined;

  constructor(
    readonly path: string,
    private readonly bytes = DEFAULT_RESERVE_BYTES,
  ) {}

  /**
   * Makes the reserve if it is not there and there is room: written under a temporary name,
   * then renamed. No room: nothing is left behind, and false.
   */
  async ensure(): Promise<boolean> {
    if (this.present) return true;
    if (
      await access(this.path, constants.F_OK).then(
        () => true,
        () => false,
      )
    ) {
      this.present = true;
      return true;
    }
    const temporary = join(
      dirname(this.path),
      `.${basename(this.path)}.${randomBytes(4).toString('hex')}.tmp`,
    );
    try {
      const handle = await open(temporary, 'wx', 0o600);
      try {
        const chunk = Buffer.alloc(64 * 1024);
        for (let at = 0; at < this.bytes; at += chunk.length)
          await handle.write(chunk, 0, Math.min(chunk.length, this.bytes - at), at);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.path);
      this.present = true;
      return true;
    } catch (error) {
      await rm(temporary, { force: true });
      if (isNoSpace(error)) return false;
      throw error;
    }
  }

  /** Lets the reserve go: true when there was one to free. */
  async release(): Promise<boolean> {
    const existed = await access(this.path, constants.F_OK).then(
      () => true,
      () => false,
    );
    await rm(this.path, { force: true });
    this.present = false;
    return existed;
  }

  /** Runs a write; when the file system is full, frees the reserve and runs it once more. */
  async writeThrough<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (error) {
      if (!isNoSpace(error) || !(await this.release())) throw error;
      return write();
    }
  }
}
