/**
 * Supervises the worker's one qemu-storage-daemon: spawns it (owner-only umask, parent-death
 * signal TERM so it flushes and quits if the worker dies), connects its QMP socket, starts its
 * NBD server (Unix socket 0600, or TCP: on loopback, or beyond it only with TLS through
 * tls-creds-x509), and notices when it exits. A daemon left by a killed worker is found through its
 * pid file and told to quit before a new one starts. Nothing starts (nor is a leftover looked
 * for) until the runtime folder passed its checks (runtime-dir.ts) and the NBD settings theirs:
 * every start goes through `prepareStorageDaemon`, so no caller can skip them.
 */
import { type ChildProcess } from 'node:child_process';
import { constants, existsSync, readFileSync } from 'node:fs';
import { access, chmod, readFile, rm, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DiskEngineError } from '../errors';
import { spawnBound } from '../qemu/process';
import { JobSupervisor } from '../qmp/jobs';
import { QmpClient } from '../qmp/qmp-client';
import { prepareRuntimeDir } from './runtime-dir';

export const QEMU_STORAGE_DAEMON = process.env.DOLLY_QEMU_STORAGE_DAEMON ?? 'qemu-storage-daemon';

export type NbdListen =
  | { kind: 'unix' }
  | {
      kind: 'tcp';
      /** The address listened on (default 127.0.0.1); beyond loopback only with TLS. */
      host?: string;
      port: number;
      /**
       * The host name in exported URIs, which clients connect to and the server certificate
       * names; default: `host`, or this machine's name when `host` is a wildcard (0.0.0.0, ::).
       */
      publicHost?: string;
    };

export interface TlsConfig {
  /**
   * Folder with ca-cert.pem, server-cert.pem and server-key.pem (QEMU's x509 layout). With
   * `verifyPeer`, also client-cert.pem and client-key.pem: the engine reads its own exports
   * (live block maps) as a client.
   */
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
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);

function refuseNbd(problem: string): never {
  throw new DiskEngineError('DISK.BAD_NBD_SERVER_CONFIG', problem);
}

/** Loopback addresses, and the name that stands for them: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./i.test(bare);
  return false;
}

/** Files QEMU's tls-creds-x509 loads as a server; with verify-peer, the engine's own client pair. */
async function checkCertDir(tls: TlsConfig): Promise<void> {
  const { certDir } = tls;
  if (!isAbsolute(certDir)) refuseNbd(`the TLS folder ${certDir} must be an absolute path`);
  const needed = ['ca-cert.pem', 'server-cert.pem', 'server-key.pem'];
  if (tls.verifyPeer) needed.push('client-cert.pem', 'client-key.pem');
  const missing: string[] = [];
  for (const file of needed) {
    await access(join(certDir, file), constants.R_OK).catch(() => missing.push(file));
  }
  if (missing.length > 0)
    refuseNbd(
      `the TLS folder ${certDir} lacks ${missing.join(', ')}` +
        (tls.verifyPeer && missing.some((f) => f.startsWith('client-'))
          ? ' (with verify-peer the worker reads its own exports with a client certificate of the same CA)'
          : ''),
    );
  for (const key of ['server-key.pem', 'client-key.pem']) {
    const mode = await stat(join(certDir, key)).then(
      (s) => s.mode,
      () => 0,
    );
    if (mode & 0o004)
      refuseNbd(`${join(certDir, key)} may be read by any user: chmod o-r it (0600 or 0640)`);
  }
}

/**
 * Checks the NBD settings and makes (or checks) the runtime folder; throws
 * DISK.BAD_NBD_SERVER_CONFIG or DISK.UNSAFE_RUNTIME_DIR with what is wrong. The daemon runs it
 * before every start; a worker may run it at its own start to fail before taking work.
 */
export async function prepareStorageDaemon(config: StorageDaemonConfig): Promise<void> {
  const { nbd, tls } = config;
  if (nbd?.kind === 'tcp') {
    if (!Number.isInteger(nbd.port) || nbd.port < 1 || nbd.port > 65535)
      refuseNbd(`NBD port ${nbd.port} is not a TCP port (1-65535; the URIs name it, so not 0)`);
    const host = nbd.host ?? '127.0.0.1';
    if (!isLoopback(host) && !tls)
      refuseNbd(
        `NBD on ${host}:${nbd.port} is reachable from other machines: it needs TLS (a certificate folder), ` +
          'or listen on a loopback address (127.0.0.1, ::1), or use the Unix socket',
      );
  }
  if (tls) await checkCertDir(tls);
  await prepareRuntimeDir(config.runtimeDir);
}

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
    if (nbd.kind === 'unix')
      return { kind: 'unix', socketPath: join(this.config.runtimeDir, 'nbd.sock'), tls };
    const host = nbd.host ?? '127.0.0.1';
    const publicHost = nbd.publicHost ?? (WILDCARD_HOSTS.has(host) ? hostname() : host);
    return { kind: 'tcp', host: publicHost, port: nbd.port, tls };
  }

  /** The TCP address the NBD server listens on (the endpoint names the one clients use). */
  private listenAddress(): { host: string; port: string } {
    const nbd = this.config.nbd;
    if (nbd?.kind !== 'tcp') throw new Error('the NBD server listens on a Unix socket');
    return { host: (nbd.host ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1'), port: String(nbd.port) };
  }

  onExit(listener: (how: { code: number | null; signal: string | null }) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this._state === 'running' || this._state === 'starting') return;
    this._state = 'starting';
    try {
      await this.stopLeftover();
    } catch (error) {
      this._state = 'stopped';
      throw error;
    }
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
          : { type: 'inet', data: this.listenAddress() },
      ...(tls ? { 'tls-creds': TLS_OBJECT_ID } : {}),
    });
    // The umask already made it owner-only; 0600 is the documented mode.
    if (endpoint.kind === 'unix') await chmod(endpoint.socketPath, 0o600);
  }

  /**
   * A daemon from a worker that was killed: ask it to quit (it flushes), or kill it. Only once
   * the runtime folder passed its checks: its pid file and QMP socket are trusted from then on.
   */
  async stopLeftover(): Promise<void> {
    await prepareStorageDaemon(this.config);
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
