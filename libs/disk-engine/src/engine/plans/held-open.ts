/**
 * What the operations held open between their `started` line and their commit share
 * (beginDiskImport until commit or abort, stageExport until release): a promise settled from
 * outside, which the caller's calls resolve or reject.
 */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** Its promise never counts as an unhandled rejection: the operation awaits it, or has ended. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
