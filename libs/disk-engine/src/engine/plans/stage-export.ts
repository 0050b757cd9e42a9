/**
 * stageExport: disks (each its top, or a frozen layer of its chain) written as streamOptimized
 * VMDKs into a private folder of their datastore, for an OVA to be streamed from. exportVmdk's
 * source rules and conversion (export-vmdk.ts), held open: the operation stays under way, its
 * chains locked shared and its folder listed as temporary in its intent, until `release` (or the
 * signal) ends it, and the folder goes with it. A crash leaves a `started` record whose rollback,
 * like check's sweep of temporary names, removes the folder.
 */
import { type Hash, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskEngineError } from '../../errors';
import { type Layer, chainOf, getDisk, getLayer } from '../../model/layer-graph';
import { assertValidId, isValidId, temporaryFileName } from '../../model/names';
import { assertRoomFor } from '../../model/space';
import {
  type OperationOptions,
  type OperationResult,
  type StageExport,
  type StagedExport,
  type StagedFile,
} from '../../port';
import * as qemuImg from '../../qemu/qemu-img';
import { type EngineContext } from '../engine-context';
import { deferred } from './held-open';
import { exportSource, writeStreamOptimized } from './export-vmdk';

/** An export of more disks than this is refused (a VM has far fewer; the lock set stays small). */
const MAX_DISKS = 64;

export async function stageExport(
  ctx: EngineContext,
  command: StageExport,
  options?: OperationOptions,
): Promise<StagedExport> {
  const { operationId, datastoreId } = command;
  assertValidId('operation', operationId);
  assertValidId('datastore', datastoreId);
  const problems = commandProblems(command);
  if (problems.length)
    throw new DiskEngineError('DISK.BAD_REQUEST', problems.join('; '), { reasons: problems });
  const signal = options?.signal;
  if (signal?.aborted) throw cancelled(operationId);
  const folderName = temporaryFileName('export', operationId);
  const folder = join(ctx.rootOf(datastoreId), folderName);
  const staged = deferred<StagedFile[]>();
  const released = deferred<void>();
  const onAbort = () => {
    released.reject(cancelled(operationId));
    staged.reject(cancelled(operationId));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const running = ctx.runner.run(
    'stageExport',
    command,
    async () => ({
      space: await ctx.space.probe(datastoreId, true),
      dataBytes: await dataBytesOf(ctx, command),
    }),
    (graph, { space, dataBytes }) => {
      const sources = command.disks.map(({ diskId, layerId }) => ({
        diskId,
        ...exportSource(ctx, graph, sourceLayer(graph, datastoreId, diskId, layerId)),
      }));
      const reserveBytes = sources.reduce(
        (sum, { diskId, source }) =>
          sum +
          Math.min(source.capacityBytes, dataBytes.get(diskId) ?? source.capacityBytes) +
          VMDK_OVERHEAD_BYTES,
        0,
      );
      assertRoomFor(space(), reserveBytes);
      return {
        datastoreId,
        events: [],
        intent: { temporaryFiles: [folderName], publishedFiles: [], removedFiles: [] },
        locks: { exclusive: [], shared: [...new Set(sources.flatMap((s) => s.shared))] },
        reserveBytes,
        result: { operationId, events: [] } as OperationResult,
        execute: async () => {
          await mkdir(folder, { mode: 0o700 });
          const digestRanges =
            command.digestRangeBytes === undefined
              ? undefined
              : {
                  rangeBytes: command.digestRangeBytes,
                  overBytes: command.digestRangesOverBytes ?? 0,
                };
          const files: StagedFile[] = [];
          for (const { diskId, source } of sources) {
            if (signal?.aborted) throw cancelled(operationId);
            files.push(
              await stageOne(ctx, diskId, source, folder, operationId, digestRanges, options),
            );
          }
          staged.resolve(files);
          await released.promise;
          // The folder is a temporary name of the intent: the runner's rollback would remove it;
          // on a release it goes before the commit, so a crash in between leaves it to check.
          await rm(folder, { recursive: true, force: true });
        },
      };
    },
  );
  running.catch(() => undefined);
  const settled = running.finally(() => signal?.removeEventListener('abort', onAbort));
  settled.catch(() => undefined);
  const files = await Promise.race([
    staged.promise,
    running.then(() => {
      throw new DiskEngineError(
        'DISK.OPERATION_CONFLICT',
        `export ${operationId} was staged and released already: stage it again under a new id`,
        { operationId },
      );
    }),
  ]).catch(async (error: unknown) => {
    released.reject(error);
    await settled.catch(() => undefined);
    throw error;
  });
  return {
    operationId,
    files,
    release: async () => {
      released.resolve();
      await settled.catch((error: unknown) => {
        // Released after the signal aborted it: the folder is gone all the same.
        if (!(error instanceof DiskEngineError && error.code === 'DISK.CANCELLED')) throw error;
      });
    },
  };
}

/** Grain directory, tables and footer of a streamOptimized VMDK, on top of its data (generous). */
const VMDK_OVERHEAD_BYTES = 1024 * 1024;

/**
 * What each disk's staged VMDK may take, reserved up front: at most what its chain's files hold
 * (the VMDK holds the same data, compressed). Read before deciding; a disk not found here is
 * refused by the decision.
 */
async function dataBytesOf(ctx: EngineContext, command: StageExport): Promise<Map<string, number>> {
  const graph = ctx.runner.graph;
  const sizes = new Map<string, number>();
  for (const { diskId, layerId } of command.disks) {
    const disk = graph.disks[diskId];
    if (!disk) continue;
    let total = 0;
    for (const layer of chainOf(graph, layerId ?? disk.topLayerId))
      total += await qemuImg.allocatedBytes(ctx.pathOf(layer)).catch(() => layer.capacityBytes);
    sizes.set(diskId, total);
  }
  return sizes;
}

function commandProblems(command: StageExport): string[] {
  const problems: string[] = [];
  if (!Array.isArray(command.disks) || command.disks.length === 0)
    return ['an export needs at least one disk'];
  if (command.disks.length > MAX_DISKS)
    problems.push(`${command.disks.length} disks; an export takes at most ${MAX_DISKS}`);
  const { digestRangeBytes } = command;
  if (
    digestRangeBytes !== undefined &&
    (!Number.isSafeInteger(digestRangeBytes) || digestRangeBytes <= 0)
  )
    problems.push(`digestRangeBytes ${digestRangeBytes}: a whole number of bytes above 0`);
  const { digestRangesOverBytes } = command;
  if (
    digestRangesOverBytes !== undefined &&
    (!Number.isSafeInteger(digestRangesOverBytes) || digestRangesOverBytes < 0)
  )
    problems.push(`digestRangesOverBytes ${digestRangesOverBytes}: a whole number of bytes`);
  const seen = new Set<string>();
  command.disks.forEach((disk, index) => {
    if (!isValidId(disk?.diskId)) problems.push(`disks[${index}]: bad disk id`);
    else if (seen.has(disk.diskId)) problems.push(`disks[${index}]: disk ${disk.diskId} twice`);
    else seen.add(disk.diskId);
    if (disk?.layerId !== null && !isValidId(disk?.layerId))
      problems.push(`disks[${index}]: bad layer id (null for the disk's top)`);
  });
  return problems;
}

/** The layer an entry names: the disk's top, or a frozen layer of its own chain. */
function sourceLayer(
  graph: Parameters<typeof chainOf>[0],
  datastoreId: string,
  diskId: string,
  layerId: string | null,
): Layer {
  const disk = getDisk(graph, diskId);
  if (disk.datastoreId !== datastoreId) {
    throw new DiskEngineError('DISK.BAD_REQUEST', `disk ${diskId} is on ${disk.datastoreId}`, {
      diskId,
      datastoreId,
    });
  }
  if (layerId === null) return getLayer(graph, disk.topLayerId);
  const layer = chainOf(graph, disk.topLayerId).find((l) => l.layerId === layerId);
  if (!layer) {
    throw new DiskEngineError('DISK.NOT_IN_CHAIN', `layer ${layerId} is not in disk ${diskId}`, {
      diskId,
      layerId,
    });
  }
  if (!layer.frozen) {
    throw new DiskEngineError('DISK.NOT_FROZEN', `layer ${layerId} is not frozen`, { layerId });
  }
  return layer;
}

async function stageOne(
  ctx: EngineContext,
  diskId: string,
  source: Layer,
  folder: string,
  operationId: string,
  digestRanges: { rangeBytes: number; overBytes: number } | undefined,
  options: OperationOptions | undefined,
): Promise<StagedFile> {
  const path = join(folder, `${diskId}.vmdk`);
  await writeStreamOptimized(ctx, source, path, operationId, options);
  const { size } = await stat(path);
  // A file the writer will not split is hashed once, whole: its range digests would go unused.
  const rangeBytes =
    digestRanges && size > digestRanges.overBytes ? digestRanges.rangeBytes : undefined;
  const digests = await digestFile(path, rangeBytes);
  if (size !== digests.sizeBytes)
    throw new Error(`staged ${path} changed size while it was digested`);
  return { diskId, path, ...digests };
}

/**
 * A file's SHA-256, and with rangeBytes each consecutive range's, in one read. The first range's
 * digest is the whole digest's state at its end (a copy), so a file of one range costs one hash.
 */
async function digestFile(
  path: string,
  rangeBytes: number | undefined,
): Promise<{ sizeBytes: number; sha256: string; rangeSha256?: string[] }> {
  const whole = createHash('sha256');
  const ranges: string[] = [];
  let range: Hash | null = null;
  let sizeBytes = 0;
  for await (const read of createReadStream(path, { highWaterMark: 1 << 20 })) {
    let data = read as Buffer;
    if (rangeBytes === undefined) {
      whole.update(data);
      sizeBytes += data.length;
      continue;
    }
    while (data.length > 0) {
      const piece = data.subarray(0, Math.min(data.length, rangeBytes - (sizeBytes % rangeBytes)));
      const first = sizeBytes < rangeBytes;
      whole.update(piece);
      if (!first) (range ??= createHash('sha256')).update(piece);
      sizeBytes += piece.length;
      data = data.subarray(piece.length);
      if (sizeBytes % rangeBytes !== 0) continue;
      ranges.push(first ? whole.copy().digest('hex') : range!.digest('hex'));
      range = null;
    }
  }
  if (rangeBytes === undefined) return { sizeBytes, sha256: whole.digest('hex') };
  // A last range shorter than rangeBytes is still open.
  if (sizeBytes % rangeBytes !== 0)
    ranges.push(sizeBytes < rangeBytes ? whole.copy().digest('hex') : range!.digest('hex'));
  return { sizeBytes, sha256: whole.digest('hex'), rangeSha256: ranges };
}

function cancelled(operationId: string): DiskEngineError {
  return new DiskEngineError('DISK.CANCELLED', `export ${operationId} was aborted`, {
    operationId,
  });
}
