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
  /** CPU milliseconds (user + system) it had used when last seen. */
  cpuMs: number;
}

/** Linux reports process times in USER_HZ ticks, 100 a second. */
const MS_PER_TICK = 10;

function childrenOf(parent: number): Map<number, { command: string; cpuMs: number }> {
  const found = new Map<number, { command: string; cpuMs: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command name: state, ppid, ... utime and stime 12th and 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== parent) continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      found.set(Number(name), {
        command: `${argv[0].split('/').at(-1)} ${argv[1] ?? ''}`.trim(),
        cpuMs: (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK,
      });
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
      for (const [child, { command, cpuMs }] of childrenOf(pid)) {
        const known = seen.get(child);
        // An exiting process (a zombie) has an empty command line: keep the name it had.
        if (known)
          Object.assign(known, { lastSeenMs: at, command: command || known.command, cpuMs });
        else seen.set(child, { pid: child, command, firstSeenMs: at, lastSeenMs: at, cpuMs });
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
