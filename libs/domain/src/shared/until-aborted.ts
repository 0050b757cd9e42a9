/**
 * `promise`, or a rejection with the signal's reason as soon as it aborts, whichever comes first.
 *
 * Not `Promise.race([promise, aborted])` with one long-lived `aborted` promise: every race adds a
 * reaction to it that is never removed and holds what the raced promise resolved with, so a loop
 * racing each chunk of a stream keeps every chunk until the signal's promise goes (an import held
 * its whole package in memory that way). Here the abort listener goes once the promise settles.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
