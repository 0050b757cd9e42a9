/** An operation's progress callbacks, from the caller's `onProgress` (none when it gave none). */
import { type OperationOptions } from '../port';

/** Reports `doneBytes` of `totalBytes` of one phase of an operation. */
export function progress(
  options: OperationOptions | undefined,
  operationId: string,
  phase: string,
) {
  const onProgress = options?.onProgress;
  return onProgress
    ? (doneBytes: number, totalBytes: number) =>
        onProgress({ operationId, phase, doneBytes, totalBytes })
    : undefined;
}

/** Progress of a qemu-img run, read from the bytes it read or wrote (its I/O counter). */
export function ioProgress(
  options: OperationOptions | undefined,
  operationId: string,
  phase: string,
  counter: 'rchar' | 'wchar',
  totalBytes: number,
) {
  const onProgress = progress(options, operationId, phase);
  return onProgress ? { counter, totalBytes, onProgress } : undefined;
}
