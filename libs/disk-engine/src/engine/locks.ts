/**
 * Which operation holds which layer or disk id. Operations under way on unrelated layers run
 * side by side; an operation that needs a layer another one holds is refused at once with
 * DISK.BUSY (retryable) rather than queued, so a clone worker never waits blind.
 */
import { DiskEngineError } from '../errors';
import { type LockRequest } from '../model/operation-log';

export type { LockRequest };

export class LockTable {
  private readonly exclusive = new Map<string, string>();
  private readonly shared = new Map<string, Set<string>>();

  holds(key: string): boolean {
    return this.exclusive.has(key) || this.shared.has(key);
  }

  /**
   * Takes every lock or none; returns the release. `elsewhere`: operations under way in other
   * processes, holding what their `started` record says (they are released there, not here).
   */
  acquire(
    owner: string,
    request: LockRequest,
    elsewhere: ReadonlyArray<{ operationId: string; intent: { locks?: LockRequest } }> = [],
  ): () => void {
    const sharedOnly = request.shared.filter((k) => !request.exclusive.includes(k));
    const exclusiveHolder = (key: string) =>
      this.exclusive.get(key) ??
      elsewhere.find((o) => o.intent.locks?.exclusive.includes(key))?.operationId;
    for (const key of request.exclusive) {
      const holders = [
        exclusiveHolder(key),
        ...(this.shared.get(key) ?? []),
        ...elsewhere.filter((o) => o.intent.locks?.shared.includes(key)).map((o) => o.operationId),
      ];
      const other = holders.find((h) => h !== undefined && h !== owner);
      if (other !== undefined) throw busy(key, other);
    }
    for (const key of sharedOnly) {
      const holder = exclusiveHolder(key);
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
