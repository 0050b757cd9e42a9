/**
 * Worker processes the benchmark starts itself, each serving a datastore set of its own
 * (DOLLY_WORKER_DATASTORES). DollyStack gives every instance the same environment, and two
 * workers must not write one datastore yet (the disk engine has no lock across processes), so
 * the scaling runs give each worker its own target datastore. Started the way DollyStack starts
 * its apps: the built main.js, the stack's environment, a port and a worker id of its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type DollyStack, appNodeArgs } from '@dolly/testing';
import { workerServes } from '../test/support/inventory';

const WORKER_MAIN = join(__dirname, '..', 'dist', 'apps', 'worker', 'src', 'main.js');

export class BenchWorker {
  private constructor(
    readonly instance: string,
    readonly workerId: string,
    private readonly child: ChildProcess,
    private readonly output: string[],
    private readonly runtimeDir: string,
  ) {}

  /** Starts a worker on these datastores and waits until its group can take their jobs. */
  static async start(
    stack: DollyStack,
    instance: string,
    datastoreIds: string[],
  ): Promise<BenchWorker> {
    const workerId = stack.workerId(instance);
    // Its daemon's sockets, in a folder removed when it stops (short: Unix socket paths are too).
    const runtimeDir = mkdtempSync('/tmp/dolly-bw-');
    const child = spawn(process.execPath, [...appNodeArgs(), WORKER_MAIN], {
      env: {
        ...stack.env('worker'),
        DOLLY_WORKER_PORT: '0',
        DOLLY_WORKER_ID: workerId,
        DOLLY_WORKER_DATASTORES: datastoreIds.join(','),
        DOLLY_WORKER_RUNTIME_DIR: runtimeDir,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    const worker = new BenchWorker(instance, workerId, child, output, runtimeDir);
    const listening = new Promise<void>((resolve, reject) => {
      const failed = (why: string) =>
        reject(new Error(`${instance} ${why}:\n${output.slice(-30).join('\n')}`));
      const timer = setTimeout(() => failed('did not start within 60 s'), 60_000);
      for (const stream of [child.stdout!, child.stderr!]) {
        createInterface({ input: stream }).on('line', (line) => {
          output.push(line);
          if (output.length > 500) output.shift();
          if (/listening on http/.test(line)) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
      child.once('exit', (code) => {
        clearTimeout(timer);
        failed(`exited with ${code} while starting`);
      });
    });
    try {
      await listening;
      // Its group is found by the datastore only it serves (the last one), else by the only one.
      await workerServes(stack, datastoreIds.at(-1)!);
    } catch (error) {
      await worker.stop();
      throw error;
    }
    return worker;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  logs(): string[] {
    return this.output;
  }

  /** SIGTERM and wait: the worker leaves its groups and stops its storage daemon. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await new Promise<void>((resolve) => {
        this.child.once('exit', () => resolve());
        this.child.kill('SIGTERM');
      });
    }
    rmSync(this.runtimeDir, { recursive: true, force: true });
  }
}
