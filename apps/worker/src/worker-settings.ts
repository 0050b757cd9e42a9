import { hostname } from 'node:os';
import { join } from 'node:path';

/** What makes this worker itself: its id (stable across restarts) and where its daemon keeps sockets. */
export interface WorkerSettings {
  workerId: string;
  /** Only these datastores (ids), when set; otherwise every registered datastore inside its roots. */
  datastoreFilter: string[] | null;
  runtimeDir: string;
  /** How often to look for datastores registered since. */
  rescanMs: number;
  /** Jobs run side by side (one per partition of the jobs topic). */
  concurrentJobs: number;
}

export function workerSettings(env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  const workerId = env.DOLLY_WORKER_ID || hostname().replace(/[^A-Za-z0-9._-]/g, '-');
  const filter = env.DOLLY_WORKER_DATASTORES?.split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  return {
    workerId,
    datastoreFilter: filter && filter.length > 0 ? filter : null,
    // Unix socket paths are limited to ~100 bytes: keep it short.
    runtimeDir: env.DOLLY_WORKER_RUNTIME_DIR || join('/tmp', `dolly-${workerId}`.slice(0, 40)),
    rescanMs: Number(env.DOLLY_WORKER_RESCAN_MS ?? 2000),
    concurrentJobs: Number(env.DOLLY_WORKER_CONCURRENT_JOBS ?? 3),
  };
}
