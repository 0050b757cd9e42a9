/** What `npm run bench:instant-clones` measures how much of (environment variables: see its header). */
import { GiB, MiB } from '../../test/support/inventory';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
export const FORKS = env('BENCH_IC_FORKS', 100);
export const SIZE_FORKS = env('BENCH_IC_SIZE_FORKS', 20);
export const BURST = env('BENCH_IC_BURST', 100);
export const API_CONCURRENCY = env('BENCH_IC_API_CONCURRENCY', 8);
export const POOL_MAX = env('BENCH_IC_POOL_MAX', 200);
export const POOL_SPARES = env('BENCH_IC_POOL_SPARES', 10);
export const RUSH_USERS = env('BENCH_IC_RUSH_USERS', 50);
/** Jobs one worker runs at once (DOLLY_WORKER_CONCURRENT_JOBS, 3 by default): the bare lanes. */
export const WORKER_JOBS = env('DOLLY_WORKER_CONCURRENT_JOBS', 3);
export const WARM_UP_FORKS = 3;
/** Longest a pool may take to reach what was asked before the run is recorded as timed out. */
export const POOL_TIMEOUT_MS = 300_000;
export const GOALS = { forkP99Ms: 100, clonesPerSecond: 50 };

/** The golden images: data written on the disk, the same amount in the parent's memory image. */
export const IMAGES = {
  small: { capacityBytes: 256 * MiB, dataBytes: 64 * MiB, memoryBytes: 64 * MiB },
  large: { capacityBytes: 2 * GiB, dataBytes: GiB, memoryBytes: GiB },
} as const;
export type ImageSize = keyof typeof IMAGES;
export const DISK_PATTERN = 0x11;
export const MEMORY_PATTERN = 0x2a;
