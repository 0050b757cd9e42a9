/**
 * Which operation holds which layer or disk id. Operations under way on unrelated layers run
 * side by side; an operation that needs a layer another one holds is refused at once with
 * DISK.BUSY (retryable) rather than queued, so a clone worker never waits blind.
 */
import { DiskEngineError } from '../errors';

export interface LockRequest {
  /** Changed by the operation: nobody else may read or change them meanwhile. */
  exclusive: string[];
  /** Read by the operation: others may read them too, nobody may change them. */
  shared: string[];
}

export class LockTable {
  private readonly exclusive = new Map<string, string>();
  private readonly shared = new Map<string, Set<string>>();

  /** Takes every lock or none; returns the release. */
  acquire(owner: string, request: LockRequest): () => void {
    const sharedOnly = request.shared.filter((k) => !request.exclusive.includes(k));
    for (const key of request.exclusive) {
      const holders = [this.exclusive.get(key), ...(this.shared.get(key) ?? [])];
      const other = holders.find((h) => h !== undefined && h !== owner);
      if (other !== undefined) throw busy(key, other);
    }
    for (const key of sharedOnly) {
      const holder = this.exclusive.get(key);
      if (holder !== undefined && holder !== owner) throw busy(key, holder);
    }
    request.exclusive.forEach((key) => this.exclusive.set(key, owner));
    sharedOnly.forEach((key) => {
      const set = this.shared.get(key) ?? new Set<string>();
      set.add(owner);
      this.shared.set(key, set);
    });
    return () => {
      request.exclusive.forEach((key) => this.exclusive.delete(key));
      sharedOnly.forEach((key) => {
        const set = this.shared.get(key);
        set?.delete(owner);
        if (set?.size === 0) this.shared.delete(key);
      });
    };
  }
}

function busy(key: string, holder: string): DiskEngineError {
  return new DiskEngineError('DISK.BUSY', `${key} is held by operation ${holder}`, { key, holder });
}

/** Runs critical sections one at a time, in call order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(section: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(section, section);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export const layerKey = (layerId: string) => `layer:${layerId}`;
export const diskKey = (diskId: string) => `disk:${diskId}`;
