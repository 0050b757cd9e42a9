/**
 * Which engines (worker processes) are alive, as seen from the datastore. Each engine has an
 * `ownerId` and, while it runs, holds a lock on `.dolly/owners/<ownerId>.lock` in every datastore
 * it serves (file-lock.ts: the kernel drops it when the process dies, SIGKILL included). The
 * operations it starts record the owner. Another engine tells whether an owner is alive by trying
 * that lock: granted means the owner is gone, and its unfinished operations may be finished by
 * someone else; refused means it is working on them, and nobody else may touch them.
 *
 * No pid, boot id or clock is compared: they cannot be checked across hosts, and pids are reused.
 * Across hosts this rests on the file system honouring the locks between its clients (see
 * README: NFSv4 does, and frees a dead host's locks when its lease expires).
 */
import { closeSync, openSync } from 'node:fs';
import { type FileHandle, readdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tryLock, unlock } from 'fs-native-extensions';
import { temporaryOwner } from '../model/names';
import { type OperationOwner } from '../model/operation-log';
import { metadataPaths } from '../store/datastore-store';
import { openLockFile, tryLockRange } from '../store/file-lock';

/** An owner seen alive is asked again after this long; one seen dead stays dead. */
const ALIVE_FOR_MS = 1000;

const ownerFile = (root: string, ownerId: string) =>
  join(metadataPaths(root).owners, `${ownerId}.lock`);

export class Owners {
  private readonly held = new Map<string, FileHandle>();
  private readonly seenAlive = new Map<string, number>();
  private readonly gone = new Set<string>();
  private readonly forgotten = new Set<string>();

  constructor(readonly self: OperationOwner) {}

  static create(ownerId: string, startedAt: string): Owners {
    return new Owners({ ownerId, hostname: hostname(), pid: process.pid, startedAt });
  }

  /**
   * Takes this engine's lock in a datastore, for as long as the engine runs. The file is locked
   * under a temporary name and then renamed: nobody ever sees it unlocked and thinks it gone.
   */
  async hold(root: string): Promise<void> {
    if (this.held.has(root)) return;
    const final = ownerFile(root, this.self.ownerId);
    const temporary = join(metadataPaths(root).owners, `.${this.self.ownerId}.lock.tmp`);
    const handle = await openLockFile(temporary);
    if (!tryLockRange(handle, 0)) throw new Error(`cannot lock ${temporary}`);
    await rename(temporary, final);
    this.held.set(root, handle);
  }

  /** Lets go of every datastore (at a clean stop, once no operation of this engine runs). */
  async release(): Promise<void> {
    for (const [root, handle] of this.held) {
      // A folder gone meanwhile keeps its lock file; closing the handle still releases the lock.
      await rm(ownerFile(root, this.self.ownerId), { force: true }).catch(() => undefined);
      await handle.close();
    }
    this.held.clear();
  }

  /**
   * Whether the owner of an operation still runs. Never answers "gone" for a live owner; may
   * answer "alive" for one gone up to ALIVE_FOR_MS ago (its operations then wait a little), unless
   * asked `fresh` (check, which judges what was cut short, asks the lock itself). Logs
   * written before owners were recorded have none: such an owner counts as gone.
   */
  isAlive(root: string, owner: OperationOwner | undefined, { fresh = false } = {}): boolean {
    if (!owner) return false;
    const { ownerId } = owner;
    if (ownerId === this.self.ownerId) return true;
    if (this.gone.has(ownerId)) return false;
    const seen = this.seenAlive.get(ownerId);
    if (!fresh && seen !== undefined && Date.now() - seen < ALIVE_FOR_MS) return true;
    if (lockIsHeld(ownerFile(root, ownerId))) {
      this.seenAlive.set(ownerId, Date.now());
      return true;
    }
    this.seenAlive.delete(ownerId);
    this.gone.add(ownerId);
    return false;
  }

  /** Whether a temporary file belongs to a live engine (this one included): see names.ts. */
  keepsTemporary(root: string, name: string): boolean {
    const ownerId = temporaryOwner(name);
    return ownerId !== undefined && this.isAlive(root, { ...this.self, ownerId });
  }

  /**
   * Removes what a gone owner left in a datastore: its lock file and its spare overlays (its
   * operations are finished through the log; templates it was making, by the next prune). Once
   * per owner and datastore.
   */
  async forget(root: string, ownerId: string): Promise<void> {
    const key = `${root}\0${ownerId}`;
    if (ownerId === this.self.ownerId || this.forgotten.has(key)) return;
    if (this.isAlive(root, { ...this.self, ownerId })) return;
    this.forgotten.add(key);
    await rm(ownerFile(root, ownerId), { force: true });
    for (const name of await readdir(root))
      if (temporaryOwner(name) === ownerId) await rm(join(root, name), { force: true });
  }

  /** Removes the lock files of every gone owner (at start-up, so that they do not pile up). */
  async forgetGone(root: string): Promise<void> {
    for (const name of await readdir(metadataPaths(root).owners)) {
      const ownerId = /^([A-Za-z0-9-]+)\.lock$/.exec(name)?.[1];
      if (ownerId) await this.forget(root, ownerId);
    }
  }
}

/** True when another open file holds the lock; a missing file is nobody's. */
function lockIsHeld(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  try {
    if (!tryLock(fd, 0, 1)) return true;
    unlock(fd, 0, 1);
    return false;
  } finally {
    closeSync(fd);
  }
}
