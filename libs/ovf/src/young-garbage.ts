/**
 * A package's bytes pass through a service as buffers that are dead within milliseconds (upload
 * chunks, inflated grains, file reads for an export), yet V8 frees a buffer's memory only when it
 * collects the small object holding it, and a transfer makes few such objects: the young
 * generation filled slowly, and between two collections 100 to 160 MiB of dead buffers stayed
 * resident in the worker (its peak in a 1 GiB import went to 254-290 MiB). A young-generation
 * collection after every 16 MiB that passed frees them while they are young, at about a
 * millisecond each: the peak fell to 207-225 MiB. Collecting more often was no better (the
 * buffers still in flight then survive twice and move to the old generation, which a young
 * collection does not free).
 *
 * Needs node's --expose-gc (SERVICE_NODE_FLAGS); without it, as in tests, nothing is collected.
 */
const COLLECT_EVERY_BYTES = 16 << 20;

type Collect = (options: { type: 'minor' }) => void;
const collect = (globalThis as { gc?: Collect }).gc;

let passedBytes = 0;

/**
 * Counts bytes of transient buffers that passed (process-wide); collects the young generation
 * every 16 MiB.
 */
export function transientBytesPassed(bytes: number): void {
  if (!collect) return;
  passedBytes += bytes;
  if (passedBytes < COLLECT_EVERY_BYTES) return;
  passedBytes = 0;
  collect({ type: 'minor' });
}
