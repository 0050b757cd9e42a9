/**
 * restoreQuarantined: a quarantined layer taken back once it is found sound again.
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskEngineError } from '../../errors';
import { type DiskEngineEvent } from '../../model/events';
import { chainOf, type LayerGraph } from '../../model/layer-graph';
import { assertValidId } from '../../model/names';
import { type OperationOptions, type OperationResult, type RestoreQuarantined } from '../../port';
import { inspectLayer } from '../check';
import { type EngineContext } from '../engine-context';
import { layerKey } from '../locks';
import { progress } from '../progress';

/**
 * A quarantined layer comes back only when it is sound now: its file a regular file (no
 * symlink), a qcow2 on the backing its graph says, passing `qemu-img check`, and nothing below
 * it quarantined (restore from the bottom up). Checked again in the operation's section.
 */
export async function restoreQuarantined(
  ctx: EngineContext,
  command: RestoreQuarantined,
  options?: OperationOptions,
): Promise<OperationResult> {
  assertValidId('datastore', command.datastoreId);
  assertValidId('layer', command.layerId);
  const { operationId, datastoreId, layerId } = command;
  const report = progress(options, operationId, 'inspect');
  const quarantinedLayer = (graph: LayerGraph) => {
    const layer = graph.layers[layerId];
    if (!layer || layer.datastoreId !== datastoreId || !layer.quarantined)
      throw new DiskEngineError(
        'DISK.NOT_QUARANTINED',
        `no quarantined layer ${layerId} on datastore ${datastoreId}`,
        { datastoreId, layerId },
      );
    const below = chainOf(graph, layerId)
      .slice(1)
      .find((l) => l.quarantined);
    if (below)
      throw new DiskEngineError(
        'DISK.QUARANTINED',
        `layer ${below.layerId} below ${layerId} is quarantined: restore it first`,
        { layerId: below.layerId },
      );
    return layer;
  };
  return ctx.runner.run(
    'restoreQuarantined',
    command,
    async () => {
      ctx.runner.refreshAll();
      const graph = ctx.runner.graph;
      const layer = quarantinedLayer(graph);
      const path = join(ctx.rootOf(datastoreId), layer.fileName);
      report?.(0, 2);
      const file = await lstat(path).catch(() => undefined);
      const problem = !file
        ? { kind: 'missing-file', detail: {} }
        : !file.isFile()
          ? { kind: 'not-a-regular-file', detail: { symlink: file.isSymbolicLink() } }
          : await inspectLayer(ctx.rootOf(datastoreId), graph, layer, {
              repair: false,
              forceShare: true,
              timeoutMs: ctx.config.checkImageTimeoutMs ?? 120_000,
              signal: options?.signal,
            });
      // Cancelled while it was checked again: nothing is taken back.
      if (options?.signal?.aborted)
        throw new DiskEngineError('DISK.CANCELLED', `restore of layer ${layerId} cancelled`, {
          layerId,
        });
      if (problem && !(problem.kind === 'qcow2-leaks'))
        throw new DiskEngineError(
          'DISK.STILL_BROKEN',
          `layer ${layerId} is still not sound (${problem.kind}): it stays quarantined`,
          { layerId, problem: problem.kind, ...(problem.detail ?? {}) },
        );
      report?.(1, 2);
    },
    (graph) => {
      quarantinedLayer(graph);
      const events: DiskEngineEvent[] = [{ type: 'LayerRestored', data: { datastoreId, layerId } }];
      return {
        datastoreId,
        events,
        intent: { temporaryFiles: [], publishedFiles: [], removedFiles: [] },
        locks: { exclusive: [layerKey(layerId)], shared: [] },
        result: { operationId, events },
        afterCommit: async () => report?.(2, 2),
      };
    },
  );
}
