import { existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { type NbdListen, type TlsConfig } from '@dolly/disk-engine';

/** What makes this worker itself: its id (stable across restarts) and where its daemon keeps sockets. */
export interface WorkerSettings {
  workerId: string;
  /** Only these datastores (ids), when set; otherwise every registered datastore inside its roots. */
  datastoreFilter: string[] | null;
  /** The storage daemon's sockets and pid file; the disk engine checks it before every start. */
  runtimeDir: string;
  /** Where the NBD server listens: a Unix socket in runtimeDir (unset), or TCP. */
  nbd: NbdListen | undefined;
  tls: TlsConfig | undefined;
  /** How often to look for datastores registered since. */
  rescanMs: number;
  /** Jobs run side by side (one per partition of the jobs topic). */
  concurrentJobs: number;
}

const fileNameSafe = (text: string) => text.replace(/[^A-Za-z0-9._-]/g, '-');

/**
 * `dolly-<worker>` in the user's runtime folder (XDG_RUNTIME_DIR, made by the login manager:
 * owner-only, on tmpfs), else in a folder of the user's own under the temporary folder,
 * `dolly-<uid>`, which the disk engine makes with mode 0700 (or refuses when someone else's).
 * Kept short: the sockets in it must fit a Unix socket address (107 bytes).
 */
function defaultRuntimeDir(env: NodeJS.ProcessEnv, workerId: string): string {
  const name = `dolly-${fileNameSafe(workerId)}`.slice(0, 40);
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg && isAbsolute(xdg) && existsSync(xdg)) return join(xdg, name);
  return join(tmpdir(), `dolly-${process.geteuid?.() ?? 0}`, name);
}

/** `host:port` or `[ipv6]:port`; the host may be a name, an address or a wildcard (0.0.0.0, ::). */
function nbdListen(env: NodeJS.ProcessEnv): NbdListen | undefined {
  const raw = env.DOLLY_WORKER_NBD_LISTEN;
  if (!raw) return undefined;
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw.trim());
  if (!match)
    throw new Error(
      `DOLLY_WORKER_NBD_LISTEN must be host:port (127.0.0.1:10809, 0.0.0.0:10809, [::]:10809), not '${raw}'`,
    );
  return {
    kind: 'tcp',
    host: match[1] ?? match[2],
    port: Number(match[3]),
    ...(env.DOLLY_WORKER_NBD_PUBLIC_HOST ? { publicHost: env.DOLLY_WORKER_NBD_PUBLIC_HOST } : {}),
  };
}

function nbdTls(env: NodeJS.ProcessEnv): TlsConfig | undefined {
  const dir = env.DOLLY_WORKER_NBD_TLS_DIR;
  if (!dir) return undefined;
  // Without client certificates, whoever reaches the port and knows an export's name (disk ids
  // are in the inventory) reads and writes that disk: so they are asked for unless turned off.
  const raw = (env.DOLLY_WORKER_NBD_TLS_VERIFY_PEER ?? 'true').trim().toLowerCase();
  if (!['true', 'false', '1', '0', 'yes', 'no'].includes(raw))
    throw new Error(
      `DOLLY_WORKER_NBD_TLS_VERIFY_PEER must be true or false, not '${env.DOLLY_WORKER_NBD_TLS_VERIFY_PEER}'`,
    );
  return { certDir: resolve(dir), verifyPeer: ['true', '1', 'yes'].includes(raw) };
}

export function workerSettings(env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  const workerId = env.DOLLY_WORKER_ID || fileNameSafe(hostname());
  const filter = env.DOLLY_WORKER_DATASTORES?.split(',')
    .map((id) => id.trim())
    .filter(Boolean);
  return {
    workerId,
    datastoreFilter: filter && filter.length > 0 ? filter : null,
    runtimeDir: env.DOLLY_WORKER_RUNTIME_DIR
      ? resolve(env.DOLLY_WORKER_RUNTIME_DIR)
      : defaultRuntimeDir(env, workerId),
    nbd: nbdListen(env),
    tls: nbdTls(env),
    rescanMs: Number(env.DOLLY_WORKER_RESCAN_MS ?? 2000),
    concurrentJobs: Number(env.DOLLY_WORKER_CONCURRENT_JOBS ?? 3),
  };
}
