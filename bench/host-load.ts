/**
 * What the machine did during a run, from /proc: how busy the CPUs were and how busy the disk
 * holding the datastores was. A run that saturates the CPUs (busy near 100%) is CPU-bound; one
 * whose disk is busy nearly all the time (utilisation near 100%, CPUs waiting on I/O) is
 * disk-bound. Linux only; elsewhere every figure is null.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';

/** Linux reports process times in USER_HZ ticks, 100 a second on every architecture it runs on. */
const TICKS_PER_SECOND = 100;

interface Counters {
  atMs: number;
  /** Jiffies: all, idle, iowait (the aggregate `cpu` line of /proc/stat). */
  cpu: { total: number; idle: number; iowait: number } | null;
  /** The device's sectors written and milliseconds spent doing I/O (/proc/diskstats). */
  disk: { sectorsWritten: number; ioMs: number } | null;
  treeCpuMs: Record<string, number> | null;
}

export interface HostLoad {
  /** Share of CPU time not idle nor waiting on I/O, over all CPUs (1 = every CPU busy). */
  cpuBusy: number | null;
  /** Share of CPU time spent waiting on I/O. */
  cpuIowait: number | null;
  /** Share of the wall time the disk had I/O in flight (/proc/diskstats io_ticks). */
  diskUtilisation: number | null;
  /** Bytes written to the device (the page cache flushed, journal included). */
  diskWrittenBytes: number | null;
  /**
   * CPU milliseconds used by this process and every process under it: the apps, the workers,
   * their storage daemons and qemu-img processes, the bare processes. Kafka and PostgreSQL run
   * apart and are not in it; the machine's other tenants neither.
   */
  processTreeCpuMs: number | null;
  /** The same by process: app (api, projector, worker), program, or "<label> children". */
  processTreeCpuMsByLabel: Record<string, number> | null;
}

/** What a process is called in the breakdown: the Dolly app it runs, else its program. */
function labelOf(pid: number): string {
  if (pid === process.pid) return 'bench';
  const argv = (readOrNull(`/proc/${pid}/cmdline`) ?? '').split('\0');
  const app = /dist\/apps\/([a-z-]+)\//.exec(argv.join(' '))?.[1];
  return app ?? argv[0].split('/').at(-1) ?? 'unknown';
}

/**
 * CPU milliseconds so far of this process and its descendants, by label: a process's own time
 * under its label, the time of its children that ended (qemu-img runs) under "<label> children".
 */
function treeCpuMs(): Record<string, number> | null {
  const procs = new Map<number, { ppid: number; ownTicks: number; childTicks: number }>();
  let names: string[];
  try {
    names = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  for (const name of names) {
    const stat = readOrNull(`/proc/${name}/stat`);
    if (!stat) continue;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // state ppid ... utime(14) stime(15) cutime(16) cstime(17), counted from pid as field 1.
    procs.set(Number(name), {
      ppid: fields[1],
      ownTicks: fields[11] + fields[12],
      childTicks: fields[13] + fields[14],
    });
  }
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of procs) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  const byLabel: Record<string, number> = {};
  const add = (label: string, ticks: number) =>
    (byLabel[label] = (byLabel[label] ?? 0) + (ticks * 1000) / TICKS_PER_SECOND);
  const pending = [process.pid];
  while (pending.length > 0) {
    const pid = pending.pop()!;
    const proc = procs.get(pid);
    if (proc) {
      const label = labelOf(pid);
      add(label, proc.ownTicks);
      add(`${label} children`, proc.childTicks);
    }
    pending.push(...(children.get(pid) ?? []));
  }
  return byLabel;
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** The block device (major:minor) under a folder, as /proc/diskstats names it. */
export function deviceOf(folder: string): string | null {
  const dev = statSync(folder).dev;
  const major = (dev >> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  const line = readOrNull('/proc/diskstats')
    ?.split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => Number(f[0]) === major && Number(f[1]) === minor);
  return line?.[2] ?? null;
}

function counters(device: string | null): Counters {
  const stat = readOrNull('/proc/stat')?.split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const fields = device
    ? readOrNull('/proc/diskstats')
        ?.split('\n')
        .map((l) => l.trim().split(/\s+/))
        .find((f) => f[2] === device)
    : undefined;
  return {
    atMs: performance.now(),
    // user nice system idle iowait irq softirq steal: guest time is already in user.
    cpu: stat
      ? {
          total: stat.slice(0, 8).reduce((a, b) => a + b, 0),
          idle: stat[3],
          iowait: stat[4],
        }
      : null,
    // Fields after the name: reads(4) ... sectors written is the 7th, io_ticks the 10th.
    disk: fields ? { sectorsWritten: Number(fields[9]), ioMs: Number(fields[12]) } : null,
    treeCpuMs: treeCpuMs(),
  };
}

/** Measures the machine while `work` runs. */
export async function underLoad<T>(
  device: string | null,
  work: () => Promise<T>,
): Promise<{ result: T; load: HostLoad }> {
  const before = counters(device);
  const result = await work();
  const after = counters(device);
  const cpuTotal = before.cpu && after.cpu ? after.cpu.total - before.cpu.total : 0;
  const wallMs = after.atMs - before.atMs;
  return {
    result,
    load: {
      cpuBusy:
        before.cpu && after.cpu && cpuTotal > 0
          ? 1 - (after.cpu.idle - before.cpu.idle + after.cpu.iowait - before.cpu.iowait) / cpuTotal
          : null,
      cpuIowait:
        before.cpu && after.cpu && cpuTotal > 0
          ? (after.cpu.iowait - before.cpu.iowait) / cpuTotal
          : null,
      diskUtilisation:
        before.disk && after.disk && wallMs > 0
          ? Math.min(1, (after.disk.ioMs - before.disk.ioMs) / wallMs)
          : null,
      diskWrittenBytes:
        before.disk && after.disk
          ? (after.disk.sectorsWritten - before.disk.sectorsWritten) * 512
          : null,
      ...treeDelta(before.treeCpuMs, after.treeCpuMs),
    },
  };
}

function treeDelta(
  before: Record<string, number> | null,
  after: Record<string, number> | null,
): Pick<HostLoad, 'processTreeCpuMs' | 'processTreeCpuMsByLabel'> {
  if (!before || !after) return { processTreeCpuMs: null, processTreeCpuMsByLabel: null };
  const byLabel: Record<string, number> = {};
  for (const label of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const ms = (after[label] ?? 0) - (before[label] ?? 0);
    if (ms !== 0) byLabel[label] = ms;
  }
  return {
    processTreeCpuMs: Object.values(byLabel).reduce((a, b) => a + b, 0),
    processTreeCpuMsByLabel: byLabel,
  };
}
