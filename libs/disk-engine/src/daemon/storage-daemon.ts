/**
 * Supervises the worker's one qemu-storage-daemon: spawns it (owner-only umask, parent-death
 * signal TERM so it flushes and quits if the worker dies), connects its QMP socket, starts its
 * NBD server (Unix socket 0600, or TCP on 127.0.0.1, TLS through tls-creds-x509 when
 * configured), and notices when it exits. A daemon left by a killed worker is found through its
 * pid file and told to quit before a new one starts.
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DiskEngineError } from '../errors';
import { spawnBound } from '../qemu/process';
import { JobSupervisor } from '../qmp/jobs';
import { QmpClient } from '../qmp/qmp-client';

export const QEMU_STORAGE_DAEMON = process.env.DOLLY_QEMU_STORAGE_DAEMON ?? 'qemu-storage-daemon';

export type NbdListen = { kind: 'unix' } | { kind: 'tcp'; host?: string; port: number };

export interface TlsConfig {
  /** Folder with ca-cert.pem, server-cert.pem and server-key.pem (QEMU's x509 layout). */
  certDir: string;
  /** Require client certificates signed by the CA. */
  verifyPeer?: boolean;
}

export interface StorageDaemonConfig {
  /** Owner-only folder for the QMP socket, the NBD socket and the pid file. */
  runtimeDir: string;
  nbd?: NbdListen;
  tls?: TlsConfig;
}

export type DaemonState = 'stopped' | 'starting' | 'running' | 'stopping' | 'exited';

/** Where clients reach the NBD server. */
export type NbdEndpoint =
  | { kind: 'unix'; socketPath: string; tls: boolean }
  | { kind: 'tcp'; host: string; port: number; tls: boolean };

const TLS_OBJECT_ID = 'dolly-tls';
const START_TIMEOUT_MS = 10_000;

export class StorageDaemon {
  private _state: DaemonState = 'stopped';
  private child?: ChildProcess;
  private exitListeners = new Set<(how: { code: number | null; signal: string | null }) => void>();
  readonly qmp = new QmpClient();
  readonly jobs = new JobSupervisor(this.qmp);

  constructor(readonly config: StorageDaemonConfig) {}

  get state(): DaemonState {
    return this._state;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get qmpSocketPath(): string {
    return join(this.config.runtimeDir, 'qmp.sock');
  }

  get pidFilePath(): string {
    return join(this.config.runtimeDir, 'qsd.pid');
  }

  get endpoint(): NbdEndpoint {
    const tls = this.config.tls !== undefined;
    const nbd = this.config.nbd ?? { kind: 'unix' };
    return nbd.kind === 'unix'
      ? { kind: 'unix', socketPath: join(this.config.runtimeDir, 'nbd.sock'), tls }
      : { kind: 'tcp', host: nbd.host ?? '127.0.0.1', port: nbd.port, tls };
  }

  onExit(listener: (how: { code: number | null; signal: string | null }) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this._state === 'running' || this._state === 'starting') return;
    this._state = 'starting';
    await mkdir(this.config.runtimeDir, { recursive: true, mode: 0o700 });
    await this.stopLeftover();
    await rm(this.qmpSocketPath, { force: true });
    const child = spawnBound(
      'sh',
      [
        '-c',
        'umask 077 && exec "$0" "$@"',
        QEMU_STORAGE_DAEMON,
        '--chardev',
        `socket,id=qmp0,path=${this.qmpSocketPath},server=on,wait=off`,
        '--monitor',
        'chardev=qmp0',
        '--pidfile',
        this.pidFilePath,
      ],
      { parentDeathSignal: 'TERM', stdio: 'ignore' },
    );
    this.child = child;
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this._state = 'exited';
      for (const listener of this.exitListeners) listener({ code, signal });
    });
    try {
      await this.connectWhenListening(child);
      await this.startNbdServer();
    } catch (error) {
      child.kill('SIGKILL');
      this._state = 'exited';
      throw error;
    }
    this._state = 'running';
  }

  /** Asks the daemon to quit (it flushes every image), and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) {
      this._state = 'stopped';
      return;
    }
    this._state = 'stopping';
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await this.qmp.execute('quit', {});
    } catch {
      child.kill('SIGTERM');
    }
    const unresponsive = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS);
    await exited;
    clearTimeout(unresponsive);
    await this.qmp.disconnect();
    this._state = 'stopped';
  }

  /** Connects as soon as the QMP socket accepts: a short retry loop, at start-up only. */
  private async connectWhenListening(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      if (this.child !== child) {
        throw new DiskEngineError('DISK.DAEMON_UNAVAILABLE', 'qemu-storage-daemon exited at start');
      }
      if (existsSync(this.qmpSocketPath)) {
        try {
          await this.qmp.connect(this.qmpSocketPath);
          return;
        } catch {
          // not listening yet
        }
      }
      if (Date.now() > deadline) {
        throw new DiskEngineError('DISK.DAEMON_UNAVAILABLE', 'qemu-storage-daemon did not start');
      }
      await sleep(delay);
    }
  }

  private async startNbdServer(): Promise<void> {
    const { tls } = this.config;
    if (tls) {
      await this.qmp.execute('object-add', {
        'qom-type': 'tls-creds-x509',
        id: TLS_OBJECT_ID,
        dir: tls.certDir,
        endpoint: 'server',
        'verify-peer': tls.verifyPeer ?? false,
      });
    }
    const endpoint = this.endpoint;
    if (endpoint.kind === 'unix') await rm(endpoint.socketPath, { force: true });
    await this.qmp.execute('nbd-server-start', {
      addr:
        endpoint.kind === 'unix'
          ? { type: 'unix', data: { path: endpoint.socketPath } }
          : { type: 'inet', data: { host: endpoint.host, port: String(endpoint.port) } },
      ...(tls ? { 'tls-creds': TLS_OBJECT_ID } : {}),
    });
    // The umask already made it owner-only; 0600 is the documented mode.
    if (endpoint.kind === 'unix') await chmod(endpoint.socketPath, 0o600);
  }

  /** A daemon from a worker that was killed: ask it to quit (it flushes), or kill it. */
  async stopLeftover(): Promise<void> {
    let pid: number;
    try {
      pid = Number((await readFile(this.pidFilePath, 'utf8')).trim());
    } catch {
      return;
    }
    if (!Number.isInteger(pid) || pid <= 0 || !isOurDaemon(pid, this.qmpSocketPath)) return;
    const leftover = new QmpClient();
    try {
      await leftover.connect(this.qmpSocketPath);
      await leftover.execute('quit', {}).catch(() => undefined);
    } catch {
      process.kill(pid, 'SIGKILL');
    } finally {
      await leftover.disconnect();
    }
    for (let waited = 0; isAlive(pid) && waited < START_TIMEOUT_MS; waited += 20) await sleep(20);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/** Alive and not a zombie waiting for its parent to reap it. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return existsSync(`/proc/${pid}`) && !readProc(pid, 'stat').includes(') Z ');
  } catch {
    return false;
  }
}

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** Only a qemu-storage-daemon serving this very runtime folder is ours to stop. */
function isOurDaemon(pid: number, qmpSocketPath: string): boolean {
  const argv = readProc(pid, 'cmdline').split('\0');
  return (
    argv.some((a) => a.endsWith('qemu-storage-daemon')) &&
    argv.some((a) => a.includes(qmpSocketPath))
  );
}
