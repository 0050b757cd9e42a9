/**
 * A coarse trace of the processes a worker runs for one job (qemu-img measure, convert, map...),
 * from /proc: which ran, from when to when, so that the worker's part of a clone can be split
 * into QEMU's work and the rest without touching the worker. Polls, so each time is known to a
 * polling interval; the polling costs CPU, so traced runs are not timed runs. Linux only.
 */
import { readFileSync, readdirSync } from 'node:fs';

export interface TracedProcess {
  pid: number;
  /** The program and its first argument (`qemu-img convert`). */
  command: string;
  /** Milliseconds since the epoch when first and last seen. */
  firstSeenMs: number;
  lastSeenMs: number;
}

function childrenOf(parent: number): Map<number, string> {
  const found = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parent) continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      found.set(Number(name), `${argv[0].split('/').at(-1)} ${argv[1] ?? ''}`.trim());
    } catch {
      // Gone between listing and reading: too short to matter at this resolution.
    }
  }
  return found;
}

/** Runs `work` while noting the child processes of `pid` every `intervalMs`. */
export async function traceChildren<T>(
  pid: number,
  work: () => Promise<T>,
  intervalMs = 10,
): Promise<{ result: T; processes: TracedProcess[] }> {
  const seen = new Map<number, TracedProcess>();
  let tracing = true;
  const poller = (async () => {
    while (tracing) {
      const at = performance.timeOrigin + performance.now();
      for (const [child, command] of childrenOf(pid)) {
        const known = seen.get(child);
        if (known) known.lastSeenMs = at;
        else seen.set(child, { pid: child, command, firstSeenMs: at, lastSeenMs: at });
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  try {
    return { result: await work(), processes: [...seen.values()] };
  } finally {
    tracing = false;
    await poller;
  }
}
