/**
 * A full garbage collection on demand, for specs that show something is not held: V8 exposes
 * `gc` only behind a flag, which may be set at run time for contexts created after it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Collects everything unreachable. A WeakRef's target is kept until the end of the job that
 * last dereferenced or created it, so the collection waits for the next macrotask first.
 */
export async function collectGarbage(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  gc();
}

/** How many of these objects are still alive. */
export const aliveCount = (refs: readonly WeakRef<object>[]): number =>
  refs.filter((ref) => ref.deref() !== undefined).length;
