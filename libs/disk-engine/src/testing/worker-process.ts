/**
 * The parent side of crash-worker.ts: start it, call the engine in it, stop it or kill it with its
 * daemon. Several of them on one datastore are several workers sharing it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { isAlive } from '../daemon/storage-daemon';
import { type QemuDiskEngineConfig } from '../engine/qemu-disk-engine';
import { type FromWorker, type ToWorker } from './crash-worker';

const REPO = join(__dirname, '..', '..', '..', '..');

export class WorkerProcess {
  private nextId = 1;
  private readonly listeners = new Set<(m: FromWorker) => void>();
  private exited: Promise<void>;
  daemonPid = 0;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: FromWorker) => this.listeners.forEach((l) => l(m)));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(config: QemuDiskEngineConfig): Promise<WorkerProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'crash-worker.ts')], {
      cwd: REPO,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker = new WorkerProcess(child);
    const started = worker.next((m) => m.type === 'started');
    worker.send({ type: 'start', config });
    const message = await started;
    if (message.type === 'started') worker.daemonPid = message.daemonPid;
    return worker;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  private send(message: ToWorker): void {
    this.child.send(message);
  }

  private next(match: (m: FromWorker) => boolean): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      const listener = (m: FromWorker) => {
        if (!match(m)) return;
        this.listeners.delete(listener);
        resolve(m);
      };
      this.listeners.add(listener);
      void this.exited.then(() => reject(new Error('worker exited')));
    });
  }

  /** Starts an engine call; `onProgress` sees its progress reports. */
  call(
    method: string,
    command: unknown,
    onProgress?: (done: number, total: number) => void,
  ): Promise<unknown> {
    const id = this.nextId++;
    if (onProgress) {
      this.listeners.add(
        (m) => m.type === 'progress' && m.id === id && onProgress(m.doneBytes, m.totalBytes),
      );
    }
    const outcome = this.next((m) => (m.type === 'result' || m.type === 'error') && m.id === id);
    this.send({ type: 'call', id, method, command });
    return outcome.then((m) => {
      if (m.type === 'error')
        throw Object.assign(new Error('engine call failed'), m.error as object);
      return m.type === 'result' ? m.result : undefined;
    });
  }

  /** A clean stop: the engine stops (operations under way end first), then the process. */
  async stop(): Promise<void> {
    await this.call('stop', {});
    this.child.kill();
    await this.exited;
  }

  /** The crash: the daemon first (so it cannot flush on the worker's death), then the worker. */
  async killWithDaemon(): Promise<void> {
    if (this.daemonPid) process.kill(this.daemonPid, 'SIGKILL');
    this.child.kill('SIGKILL');
    await this.exited;
    while (this.daemonPid && isAlive(this.daemonPid)) await new Promise((r) => setTimeout(r, 10));
  }
}
