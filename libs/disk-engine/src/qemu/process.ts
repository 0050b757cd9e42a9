/**
 * Running QEMU's command-line tools. Every child dies with the worker (parent-death signal via
 * util-linux `setpriv`), so a killed worker leaves no qemu-img writing into a temporary file that
 * check is about to remove. Progress of long runs comes from the kernel's per-process I/O
 * counters (/proc/<pid>/io), not from the tools' human-readable progress bars.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { DiskEngineError } from '../errors';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

export interface IoProgress {
  /** `rchar`: bytes the child read; `wchar`: bytes it wrote (page cache included). */
  counter: 'rchar' | 'wchar';
  totalBytes: number;
  onProgress(doneBytes: number, totalBytes: number): void;
  intervalMs?: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  cwd?: string;
  /** Exit codes that are answers rather than failures (qemu-img compare: 1 = different). */
  okExitCodes?: readonly number[];
  ioProgress?: IoProgress;
  /** Signal the child gets when the worker dies; the storage daemon takes TERM to flush first. */
  parentDeathSignal?: 'KILL' | 'TERM';
  /** Kills the child after this long; it fails with DISK.QEMU_FAILED, `timedOut: true`. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/**
 * glibc's malloc settings for QEMU's tools. By default a request buffer of a MiB or more is a
 * fresh mmap, and memory freed at the top of the heap goes back to the kernel at once, so every
 * NBD write or copy buffer is page-faulted in and zeroed again: qemu-nbd spent 1.5 s of CPU on
 * 512 MiB of 1 MiB writes, 0.3 s with these (buffers up to QEMU's 32 MiB NBD request come from
 * the heap, and up to 64 MiB of it is kept for reuse). A setting of the operator's own
 * (GLIBC_TUNABLES already in the environment) comes after, so it wins.
 */
export const QEMU_MALLOC_TUNABLES =
  'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864';

function qemuEnvironment(): NodeJS.ProcessEnv {
  const operators = process.env.GLIBC_TUNABLES;
  return {
    ...process.env,
    GLIBC_TUNABLES: operators ? `${QEMU_MALLOC_TUNABLES}:${operators}` : QEMU_MALLOC_TUNABLES,
  };
}

/** Spawns a child bound to this process's life; the caller owns its pid. */
export function spawnBound(
  command: string,
  args: readonly string[],
  options: { cwd?: string; parentDeathSignal?: 'KILL' | 'TERM'; stdio?: 'pipe' | 'ignore' } = {},
): ChildProcess {
  const [file, argv] = SETPRIV
    ? [SETPRIV, ['--pdeathsig', options.parentDeathSignal ?? 'KILL', '--', command, ...args]]
    : [command, [...args]];
  const stdio = options.stdio ?? 'pipe';
  return spawn(file, argv, {
    cwd: options.cwd,
    stdio: ['ignore', stdio, stdio],
    env: qemuEnvironment(),
  });
}

function readIoCounter(pid: number, counter: IoProgress['counter']): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/io`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${counter}:`));
    return line ? Number(line.slice(counter.length + 1)) : undefined;
  } catch {
    return undefined; // the child already exited
  }
}

export function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const { signal, ioProgress } = options;
  if (signal?.aborted) {
    return Promise.reject(
      new DiskEngineError('DISK.CANCELLED', `${command} cancelled before start`),
    );
  }
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawnBound(command, args, options);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    let cancelled = false;
    const onAbort = () => {
      cancelled = true;
      child.kill('SIGKILL');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const deadline =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    let lastDone = -1;
    const sample = () => {
      if (!ioProgress || child.pid === undefined) return;
      const done = readIoCounter(child.pid, ioProgress.counter);
      if (done === undefined || done === lastDone) return;
      lastDone = done;
      ioProgress.onProgress(Math.min(done, ioProgress.totalBytes), ioProgress.totalBytes);
    };
    const timer = ioProgress ? setInterval(sample, ioProgress.intervalMs ?? 200) : undefined;
    const finish = () => {
      if (timer) clearInterval(timer);
      if (deadline) clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (error) => {
      finish();
      reject(
        new DiskEngineError('DISK.QEMU_FAILED', `cannot run ${command}: ${error.message}`, {
          command,
          spawnFailed: true,
        }),
      );
    });
    child.on('close', (code, killedBy) => {
      finish();
      const result = {
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        exitCode: code ?? -1,
      };
      if (cancelled) {
        reject(new DiskEngineError('DISK.CANCELLED', `${command} cancelled`, { command }));
      } else if (code === 0 || (code !== null && options.okExitCodes?.includes(code))) {
        if (ioProgress && code === 0)
          ioProgress.onProgress(ioProgress.totalBytes, ioProgress.totalBytes);
        resolve(result);
      } else {
        reject(
          new DiskEngineError(
            'DISK.QEMU_FAILED',
            `${command} ${args[0] ?? ''} failed (exit ${code ?? killedBy})`,
            {
              command,
              args: [...args],
              exitCode: result.exitCode,
              ...(killedBy ? { killedBy } : {}),
              ...(timedOut ? { timedOut: true, timeoutMs: options.timeoutMs } : {}),
              // Kept for the humans reading the log; never parsed.
              stderr: result.stderr.slice(-4000),
            },
          ),
        );
      }
    });
  });
}
