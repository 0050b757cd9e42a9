/**
 * qemu-nbd serving one image to one client (the engine) on a Unix socket of the worker's
 * owner-only runtime folder: a private path for guest data while an image is written before it
 * becomes a layer. Unlike the storage daemon's NBD server, which VMs share and which may listen
 * on TCP with TLS, nobody else reaches it. The child dies with the worker (parent-death signal),
 * so a crash leaves only the temporary image, which check removes.
 */
import { type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DiskEngineError } from '../errors';
import { NbdClient } from '../nbd/nbd-client';
import { spawnBound } from './process';

/** The qemu-nbd binary: DOLLY_QEMU_NBD, read at every start. */
export const qemuNbdBinary = (): string => process.env.DOLLY_QEMU_NBD || 'qemu-nbd';

const EXPORT_NAME = 'image';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 30_000;

export interface ServeOptions {
  /** The qcow2 image, opened writable. */
  file: string;
  socketPath: string;
  /**
   * Zeros written stay unallocated (thin); a thick image keeps what it preallocated, as the
   * daemon's copies do (live-graph.ts, backup).
   */
  thin: boolean;
}

export class ServedImage {
  private exited: Promise<{ code: number | null; signal: string | null }>;

  private constructor(
    private readonly child: ChildProcess,
    readonly client: NbdClient,
    private readonly socketPath: string,
    exited: Promise<{ code: number | null; signal: string | null }>,
  ) {
    this.exited = exited;
  }

  static async start(options: ServeOptions): Promise<ServedImage> {
    await rm(options.socketPath, { force: true });
    const child = spawnBound(qemuNbdBinary(), [
      '--format=qcow2',
      `--socket=${options.socketPath}`,
      `--export-name=${EXPORT_NAME}`,
      // One client, and the server exits when it disconnects: nothing outlives the session.
      '--shared=1',
      // No flush reaches the disk while the image is written: it is a temporary file that check
      // removes after a crash, and publishing fsyncs it before its rename (fs-atomic.ts). With
      // writeback, qcow2 flushed (fsync) to order its metadata while clusters were allocated: a
      // 1 GiB half-allocated import took 1.45-1.7 s instead of 1.2 s (as qemu-img convert, which
      // writes its target unsafe too).
      '--cache=unsafe',
      `--discard=${options.thin ? 'unmap' : 'ignore'}`,
      `--detect-zeroes=${options.thin ? 'unmap' : 'off'}`,
      options.file,
    ]);
    const stderr: Buffer[] = [];
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    let gone: { code: number | null; signal: string | null } | undefined;
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.on('close', (code, signal) => resolve((gone = { code, signal })));
      child.on('error', () => resolve((gone = { code: null, signal: null })));
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    // qemu-nbd says nothing when it listens; the socket answering is the sign.
    for (;;) {
      if (gone) {
        throw new DiskEngineError(
          'DISK.QEMU_FAILED',
          `qemu-nbd exited (${gone.code ?? gone.signal})`,
          {
            command: qemuNbdBinary(),
            exitCode: gone.code,
            stderr: Buffer.concat(stderr).toString('utf8').slice(-4000),
          },
        );
      }
      try {
        const client = await NbdClient.connect({ socketPath: options.socketPath }, EXPORT_NAME);
        return new ServedImage(child, client, options.socketPath, exited);
      } catch (error) {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          await exited;
          throw new DiskEngineError('DISK.QEMU_FAILED', 'qemu-nbd did not start listening', {
            command: qemuNbdBinary(),
            message: (error as Error).message,
          });
        }
        await sleep(20);
      }
    }
  }

  /** Flushes, disconnects, and waits until qemu-nbd has closed the image (its lock let go). */
  async close(): Promise<void> {
    try {
      await this.client.flush();
      await this.client.close();
    } catch (error) {
      await this.kill();
      throw error;
    }
    const how = await within(this.exited, STOP_TIMEOUT_MS);
    if (!how) {
      await this.kill();
      throw new DiskEngineError('DISK.QEMU_FAILED', 'qemu-nbd did not exit after its client left');
    }
    await rm(this.socketPath, { force: true });
    if (how.code !== 0) {
      throw new DiskEngineError('DISK.QEMU_FAILED', `qemu-nbd exited (${how.code ?? how.signal})`, {
        command: qemuNbdBinary(),
        exitCode: how.code,
      });
    }
  }

  /** Stops it without flushing (the image is being thrown away). */
  async kill(): Promise<void> {
    // Not waited for long: the server is killed next whatever the client's goodbye does.
    await within(
      this.client.close().catch(() => undefined),
      1000,
    );
    this.child.kill('SIGKILL');
    await this.exited;
    await rm(this.socketPath, { force: true });
  }
}

/** `promise`'s value, or undefined once `ms` have passed; the timer does not outlive it. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      promise,
      sleep(ms, undefined, { signal: timer.signal }).catch(() => undefined),
    ]);
  } finally {
    timer.abort();
  }
}
