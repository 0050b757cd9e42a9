/**
 * beginDiskImport: a new disk whose content arrives while the caller reads it (an OVF/OVA disk).
 * One operation of the runner, held open between its `started` line and its commit while the
 * caller writes: decided, reserved and logged as importImage is (same plan, same events, same
 * result), published only at `commit`. Until then everything is under temporary names the intent
 * lists, so an abort, a failure or a crash leaves nothing (check removes what a crash left).
 *
 * How bytes reach the image:
 *  - write: a temporary qcow2 of the target provisioning, made at the first write, served by
 *    qemu-nbd on a private socket of the runtime folder (qemu/qemu-nbd.ts), written with the
 *    engine's NbdClient;
 *  - spool: the image file's bytes into a temporary file beside it (its growth checked and
 *    reserved against the datastore's free space as it grows), inspected as importImage inspects
 *    a file, converted by importImage's conversion into the temporary image, then removed.
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { untilAborted } from '@dolly/domain';
import { type GuestData } from '@dolly/ovf';
import { DiskEngineError } from '../../errors';
import { DEFAULT_CLUSTER_SIZE_BYTES } from '../../model/decide';
import { PROVISIONING_FORMATS } from '../../model/layer-graph';
import { assertValidId, temporaryFileName } from '../../model/names';
import { assertRoomFor } from '../../model/space';
import {
  type DiskImportSession,
  type DiskResult,
  type ImportDiskStream,
  type OperationOptions,
} from '../../port';
import * as qemuImg from '../../qemu/qemu-img';
import { ServedImage } from '../../qemu/qemu-nbd';
import { checkRange } from '../block-io';
import { type EngineContext } from '../engine-context';
import { inspectImport } from '../import';
import { type OperationRunner } from '../operation-runner';
import { progress } from '../progress';
import { deferred } from './held-open';
import { convertImported } from './import-image';
import { standaloneDecision, standaloneDiskPlan } from './new-disk';

/** A spool reserves room ahead of its growth in steps this large (fewer space probes). */
const SPOOL_RESERVE_STEP_BYTES = 64 * 1024 * 1024;

/** Operation ids of the sessions open per engine: a second begin of one is refused, not joined. */
const openSessions = new WeakMap<OperationRunner, Set<string>>();
let socketCounter = 0;

const badRequest = (message: string, details: Record<string, unknown> = {}) =>
  new DiskEngineError('DISK.BAD_REQUEST', message, details);

export async function beginDiskImport(
  ctx: EngineContext,
  command: ImportDiskStream,
  options?: OperationOptions,
): Promise<DiskImportSession> {
  assertValidId('operation', command.operationId);
  const reasons = commandProblems(command);
  if (reasons.length) throw badRequest(reasons.join('; '), { reasons });
  const open = openSessions.get(ctx.runner) ?? new Set<string>();
  openSessions.set(ctx.runner, open);
  if (open.has(command.operationId)) {
    throw new DiskEngineError(
      'DISK.OPERATION_IN_PROGRESS',
      `import ${command.operationId} has a session open`,
      { operationId: command.operationId },
    );
  }
  open.add(command.operationId);
  const session = new ImportSession(ctx, command, options);
  try {
    return await session.begin();
  } finally {
    void session.settled.finally(() => open.delete(command.operationId));
  }
}

/** Every reason the command cannot be a disk; the ids and the capacity the decision checks. */
function commandProblems(command: ImportDiskStream): string[] {
  const problems: string[] = [];
  if (!PROVISIONING_FORMATS.includes(command.format))
    problems.push(
      `format ${JSON.stringify(command.format)} is none of ${PROVISIONING_FORMATS.join(', ')}`,
    );
  const expected = command.expectedDataBytes;
  if (expected !== undefined && !(Number.isSafeInteger(expected) && expected >= 0))
    problems.push(`expectedDataBytes ${JSON.stringify(expected)} is not a byte count`);
  if (expected !== undefined && command.format !== 'thin')
    problems.push('expectedDataBytes is for thin disks (a thick one reserves its capacity)');
  return problems;
}

/**
 * What a disk being imported reserves: a thick one its fully allocated size; a thin one its
 * metadata plus the data the caller expects, or when it expects nothing said, the fully
 * allocated size too (a package may fill its disk).
 */
function reservation(
  command: ImportDiskStream,
  measured: qemuImg.Measurement | undefined,
): qemuImg.Measurement | undefined {
  if (!measured || command.format !== 'thin') return measured;
  const expected = command.expectedDataBytes;
  const required =
    expected === undefined
      ? measured.fullyAllocatedBytes
      : Math.min(measured.fullyAllocatedBytes, measured.requiredBytes + expected);
  return { ...measured, requiredBytes: required };
}

type State = 'opening' | 'open' | 'committing' | 'aborting' | 'done';

class ImportSession implements DiskImportSession {
  readonly operationId: string;
  readonly capacityBytes: number;
  /** Settles when the operation has ended, whichever way. */
  settled: Promise<unknown> = Promise.resolve();
  private state: State = 'opening';
  private running!: Promise<DiskResult>;
  private readonly ready = deferred<void>();
  /** Resolved by commit, rejected by abort (or the caller's signal). */
  private readonly finishing = deferred<void>();
  /** Kills what runs on the session's behalf (qemu-img) when it is aborted. */
  private readonly cancel = new AbortController();
  private paths?: { datastoreId: string; temporary: string; spool: string };
  private served?: Promise<ServedImage>;
  private spooling = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private failure?: unknown;
  private writtenBytes = 0;
  private spoolReservedBytes = 0;
  private readonly clusterSizeBytes = DEFAULT_CLUSTER_SIZE_BYTES;
  private readonly onProgress: ReturnType<typeof progress>;

  constructor(
    private readonly ctx: EngineContext,
    private readonly command: ImportDiskStream,
    private readonly options: OperationOptions | undefined,
  ) {
    this.operationId = command.operationId;
    this.capacityBytes = command.capacityBytes;
    this.onProgress = progress(options, command.operationId, 'write');
  }

  async begin(): Promise<DiskImportSession> {
    const { ctx, command } = this;
    const signal = this.options?.signal;
    if (signal?.aborted) throw cancelled(this.operationId);
    const onAbort = () => this.stop(cancelled(this.operationId));
    signal?.addEventListener('abort', onAbort, { once: true });
    this.running = ctx.runner.run(
      'importDiskStream',
      command,
      async () => {
        const space = await ctx.space.probe(command.datastoreId, true);
        const measured = await qemuImg
          .measure(
            { format: command.format, clusterSizeBytes: this.clusterSizeBytes },
            { capacityBytes: command.capacityBytes },
          )
          .catch(() => undefined); // bad sizes are refused by the decision with a stable code
        return { space, measured: reservation(command, measured) };
      },
      (graph, { space, measured }) => {
        const plan = standaloneDiskPlan(
          ctx,
          graph,
          this.operationId,
          standaloneDecision(command, command.capacityBytes, this.clusterSizeBytes),
          measured,
          space,
          async () => undefined, // the image is made at the first write, or by the spool's conversion
        );
        const layerFile = plan.intent.publishedFiles[0];
        const spool = temporaryFileName(`${layerFile}.spool`, this.operationId);
        const paths = {
          datastoreId: plan.datastoreId,
          temporary: ctx.temporaryPath(plan.datastoreId, layerFile, this.operationId),
          spool: join(ctx.rootOf(plan.datastoreId), spool),
        };
        const publish = plan.execute!;
        return {
          ...plan,
          intent: { ...plan.intent, temporaryFiles: [...plan.intent.temporaryFiles, spool] },
          stage: undefined,
          execute: async () => {
            await this.hold(paths);
            await publish();
          },
        };
      },
    );
    this.settled = this.running
      .then(
        () => (this.published = true),
        () => undefined,
      )
      .finally(() => {
        this.state = 'done';
        signal?.removeEventListener('abort', onAbort);
      });
    // A recorded outcome is replayed without the plan running: the session is over already.
    const replayed = await Promise.race([
      this.ready.promise.then(() => undefined),
      this.running.then((result) => ({ result })),
    ]).catch(async (error: unknown) => {
      // Refused or cancelled before the session opened: returns once nothing of it is left.
      await this.settled;
      throw error;
    });
    if (replayed) this.state = 'done';
    return this;
  }

  /** The operation's physical part: the caller's writes, until commit or abort. */
  private async hold(paths: { datastoreId: string; temporary: string; spool: string }) {
    this.paths = paths;
    try {
      if (this.cancel.signal.aborted) throw cancelled(this.operationId);
      this.state = 'open';
      this.ready.resolve();
      try {
        await this.finishing.promise;
      } catch (error) {
        // Aborted: stop the server first, so that writes under way fail instead of being waited for.
        await this.killServer();
        await Promise.allSettled(this.inFlight);
        throw error;
      }
      await Promise.allSettled(this.inFlight);
      if (this.failure) throw this.failure;
      if (!this.served && !this.spooling) await this.makeImage(paths.temporary);
      const served = await this.served;
      await served?.close();
    } catch (error) {
      await this.killServer();
      throw error;
    } finally {
      await rm(paths.spool, { force: true });
      this.releaseSpoolReservation();
    }
  }

  private async killServer(): Promise<void> {
    const served = await this.served?.catch(() => undefined);
    await served?.kill().catch(() => undefined);
  }

  private assertOpen(what: string): void {
    if (this.state !== 'open')
      throw badRequest(`${what}: import ${this.operationId} is ${this.stateName()}`, {
        operationId: this.operationId,
      });
  }

  private stateName(): string {
    return this.state === 'done' ? 'over' : this.state;
  }

  /** Runs `work` as part of the session: commit waits for it, a failure keeps commit from publishing. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    work.then(
      () => this.inFlight.delete(work),
      (error) => {
        this.inFlight.delete(work);
        this.failure ??= error;
      },
    );
    return work;
  }

  async write(offsetBytes: number, data: GuestData): Promise<void> {
    this.assertOpen('write');
    const parts: readonly unknown[] = Array.isArray(data) ? data : [data];
    if (!parts.every((part) => part instanceof Uint8Array))
      throw badRequest('write takes guest data: a Buffer, or an array of Buffers');
    const lengthBytes = (parts as Uint8Array[]).reduce((sum, part) => sum + part.length, 0);
    checkRange({ capacityBytes: this.capacityBytes }, offsetBytes, lengthBytes);
    if (this.spooling) throw badRequest('write after spool: a session takes one or the other');
    if (lengthBytes === 0) return;
    await this.track(
      (async () => {
        const served = await this.serve();
        await served.client.write(offsetBytes, data);
        this.writtenBytes += lengthBytes;
        this.onProgress?.(Math.min(this.writtenBytes, this.capacityBytes), this.capacityBytes);
      })(),
    );
  }

  private serve(): Promise<ServedImage> {
    this.served ??= (async () => {
      const { temporary } = this.paths!;
      await this.makeImage(temporary);
      socketCounter = (socketCounter + 1) % 36 ** 4;
      // Short: the runtime folder is checked to hold `nbd.sock` within a socket path's limit.
      const socketPath = join(this.ctx.config.runtimeDir, `i${socketCounter.toString(36)}.sk`);
      return ServedImage.start({
        file: temporary,
        socketPath,
        thin: this.command.format === 'thin',
      });
    })();
    this.served.catch(() => undefined);
    return this.served;
  }

  private makeImage(file: string): Promise<void> {
    return qemuImg.create({
      file,
      capacityBytes: this.capacityBytes,
      clusterSizeBytes: this.clusterSizeBytes,
      format: this.command.format,
      signal: this.cancel.signal,
    });
  }

  async spool(content: AsyncIterable<Buffer>, format: 'vmdk' | 'qcow2'): Promise<void> {
    this.assertOpen('spool');
    if (format !== 'vmdk' && format !== 'qcow2')
      throw badRequest(`spool takes vmdk or qcow2, not ${JSON.stringify(format)}`);
    if (this.served || this.spooling)
      throw badRequest('spool after writes or another spool: a session takes one image');
    this.spooling = true;
    await this.track(this.spoolInto(content, format));
  }

  private async spoolInto(content: AsyncIterable<Buffer>, format: 'vmdk' | 'qcow2') {
    const { spool, temporary } = this.paths!;
    try {
      const handle = await open(spool, 'wx', 0o600);
      let spooledBytes = 0;
      try {
        for await (const chunk of this.chunksUntilCancelled(content)) {
          if (!(chunk instanceof Uint8Array)) throw badRequest('spool takes Buffers');
          await this.roomForSpool(spooledBytes + chunk.length, spooledBytes);
          for (let done = 0; done < chunk.length;) {
            done += (await handle.write(chunk, done, chunk.length - done)).bytesWritten;
          }
          spooledBytes += chunk.length;
        }
      } finally {
        await handle.close();
      }
      const image = await inspectImport(spool, format);
      if (image.virtualSizeBytes !== this.capacityBytes) {
        throw new DiskEngineError(
          'DISK.FORMAT_MISMATCH',
          `the spooled image holds ${image.virtualSizeBytes} bytes, the disk ${this.capacityBytes}`,
          { virtualSizeBytes: image.virtualSizeBytes, capacityBytes: this.capacityBytes },
        );
      }
      await convertImported(
        { file: spool, format, image },
        {
          file: temporary,
          provisioning: this.command.format,
          clusterSizeBytes: this.clusterSizeBytes,
        },
        this.operationId,
        { onProgress: this.options?.onProgress, signal: this.cancel.signal },
      );
    } finally {
      await rm(spool, { force: true });
      this.releaseSpoolReservation();
    }
  }

  /**
   * The content's chunks until the session is aborted: an abort does not wait for a producer that
   * has stalled (an upload that stopped sending), it stops asking it.
   */
  private async *chunksUntilCancelled(content: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
    const iterator = content[Symbol.asyncIterator]();
    const signal = this.cancel.signal;
    const stopped = (error: unknown) => {
      throw signal.aborted ? cancelled(this.operationId) : error;
    };
    try {
      for (;;) {
        if (signal.aborted) throw cancelled(this.operationId);
        const next = await untilAborted(iterator.next(), signal).catch(stopped);
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Not awaited: a stalled producer may never answer.
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
    }
  }

  /**
   * The spool counts against the datastore's free space while it exists: before it grows past
   * what it holds reserved, the room is checked (its bytes already written given back to the
   * file system's free count, so they count once) and reserved a step ahead.
   */
  private async roomForSpool(totalBytes: number, writtenBytes: number): Promise<void> {
    const needBytes = totalBytes - this.spoolReservedBytes;
    if (needBytes <= 0) return;
    const { datastoreId } = this.paths!;
    const probe = await this.ctx.space.probe(datastoreId, false, writtenBytes);
    const room = probe();
    assertRoomFor(room, needBytes);
    const grant = Math.min(Math.max(needBytes, SPOOL_RESERVE_STEP_BYTES), room.freeBytes);
    this.ctx.runner.reserve(datastoreId, grant);
    this.spoolReservedBytes += grant;
  }

  private releaseSpoolReservation(): void {
    if (!this.spoolReservedBytes || !this.paths) return;
    this.ctx.runner.reserve(this.paths.datastoreId, -this.spoolReservedBytes);
    this.spoolReservedBytes = 0;
  }

  commit(): Promise<DiskResult> {
    if (this.state === 'committing' || (this.state === 'done' && !this.finishingRejected))
      return this.running;
    if (this.state !== 'open')
      return Promise.reject(
        badRequest(`commit: import ${this.operationId} is ${this.stateName()}`),
      );
    this.state = 'committing';
    this.finishing.resolve();
    return this.running;
  }

  private finishingRejected = false;
  private published = false;

  /** Ends the session without publishing: what it wrote is removed by the runner. */
  private stop(reason: DiskEngineError): void {
    if (this.state === 'done' || this.finishingRejected) return;
    this.finishingRejected = true;
    this.state = 'aborting';
    this.cancel.abort();
    this.finishing.reject(reason);
    this.ready.reject(reason);
  }

  async abort(): Promise<void> {
    if (this.state === 'committing' || this.published)
      throw badRequest(
        `abort: import ${this.operationId} is ${this.published ? 'published' : 'committing'}`,
      );
    this.stop(cancelled(this.operationId));
    await this.settled;
  }
}

function cancelled(operationId: string): DiskEngineError {
  return new DiskEngineError('DISK.CANCELLED', `import ${operationId} was aborted`, {
    operationId,
  });
}
