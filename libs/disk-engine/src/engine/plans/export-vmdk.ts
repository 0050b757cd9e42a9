/**
 * exportVmdk: a frozen layer (or a disk not in use) written out as a streamOptimized VMDK.
 */
import { rm, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join } from 'node:path';
import { DiskEngineError } from '../../errors';
import { resolveLayer } from '../../model/decide';
import { type Layer, type LayerGraph, chainOf } from '../../model/layer-graph';
import { temporaryFileName } from '../../model/names';
import { type ExportResult, type ExportVmdk, type OperationOptions } from '../../port';
import * as qemuImg from '../../qemu/qemu-img';
import { publish } from '../../store/fs-atomic';
import { type EngineContext } from '../engine-context';
import { layerKey } from '../locks';
import { ioProgress } from '../progress';

export async function exportVmdk(
  ctx: EngineContext,
  command: ExportVmdk,
  options?: OperationOptions,
): Promise<ExportResult> {
  const { operationId, targetPath } = command;
  if (!isAbsolute(targetPath) || extname(targetPath) !== '.vmdk') {
    throw new DiskEngineError(
      'DISK.BAD_NAME',
      'the export target must be an absolute path ending in .vmdk',
      { targetPath },
    );
  }
  return ctx.runner.run(
    'exportVmdk',
    command,
    async () => {
      await stat(dirname(targetPath)).catch(() => {
        throw new DiskEngineError('DISK.NOT_FOUND', `no folder ${dirname(targetPath)}`, {
          targetPath,
        });
      });
    },
    (graph) => {
      const { source, shared } = exportSource(ctx, graph, resolveLayer(graph, command.source));
      const temporary = join(
        dirname(targetPath),
        temporaryFileName(basename(targetPath), operationId),
      );
      return {
        datastoreId: source.datastoreId,
        events: [],
        intent: { temporaryFiles: [], publishedFiles: [], removedFiles: [] },
        locks: { exclusive: [], shared },
        result: { operationId, events: [], targetPath, sizeBytes: 0 },
        execute: async () => {
          try {
            await writeStreamOptimized(ctx, source, temporary, operationId, options);
            await publish(temporary, targetPath);
          } finally {
            await rm(temporary, { force: true });
          }
        },
        finish: async (result) => ({ ...result, sizeBytes: (await stat(targetPath)).size }),
      };
    },
  );
}

/**
 * What exporting a layer reads and holds: refused (DISK.IN_USE) for a layer open writable in the
 * daemon, whose file changes under the copy; its whole chain is locked shared meanwhile.
 */
export function exportSource(
  ctx: EngineContext,
  graph: LayerGraph,
  source: Layer,
): { source: Layer; shared: string[] } {
  if (ctx.live.isOpenWritable(source.layerId)) {
    throw new DiskEngineError('DISK.IN_USE', 'export a snapshot (frozen layer) of a disk in use', {
      layerId: source.layerId,
    });
  }
  return { source, shared: chainOf(graph, source.layerId).map((l) => layerKey(l.layerId)) };
}

/** Writes what a layer reads (its chain) as a new streamOptimized VMDK at `file`. */
export function writeStreamOptimized(
  ctx: EngineContext,
  source: Layer,
  file: string,
  operationId: string,
  options: OperationOptions | undefined,
): Promise<void> {
  return qemuImg.convert({
    source: {
      file: ctx.pathOf(source),
      format: 'qcow2',
      forceShare: ctx.live.isOpen(source.layerId),
    },
    target: { file, format: 'vmdk', subformat: 'streamOptimized' },
    signal: options?.signal,
    ioProgress: ioProgress(options, operationId, 'export', 'rchar', source.capacityBytes),
  });
}
