/**
 * fork: a running VM's disks and memory image frozen, the fork given overlays on them,
 * exported at once (instant clones).
 */
import { rename } from 'node:fs/promises';
import { basename } from 'node:path';
import { DiskEngineError } from '../../errors';
import { decideFork } from '../../model/decide';
import { type LayerCreated } from '../../model/events';
import { chainOf, getLayer } from '../../model/layer-graph';
import { type Fork, type ForkResult } from '../../port';
import { fsyncPath } from '../../store/fs-atomic';
import { type EngineContext } from '../engine-context';
import { diskKey, layerKey } from '../locks';
import { OVERLAY_BYTES } from '../space-accounting';

export async function fork(ctx: EngineContext, command: Fork): Promise<ForkResult> {
  const { operationId } = command;
  return ctx.runner.run(
    'fork',
    command,
    async () => undefined,
    (graph) => {
      ctx.exports.assertDaemon();
      const events = decideFork(graph, command, ctx.decisionContext());
      const overlays = events
        .filter((e): e is LayerCreated => e.type === 'LayerCreated')
        .map((e) => e.data);
      const frozen = new Set(
        events.flatMap((e) => (e.type === 'LayerFrozen' ? [e.data.layerId] : [])),
      );
      const datastoreId = overlays[0]?.datastoreId ?? '';
      if (overlays.some((o) => o.datastoreId !== datastoreId)) {
        throw new DiskEngineError(
          'DISK.BAD_REQUEST',
          'a fork keeps all its sources on one datastore',
        );
      }
      const forks = command.sources.map((source, i) => {
        const overlay = overlays[i];
        const exportName = source.newDiskId;
        return {
          source,
          overlay,
          base: getLayer(graph, overlay.backingLayerId!),
          temporary: ctx.temporaryPath(datastoreId, overlay.fileName, operationId),
          export: ctx.exports.plannedExport(exportName, overlay.layerId, source.newDiskId, true),
        };
      });
      const parents = forks.map((f) => f.base);
      return {
        datastoreId,
        events,
        intent: {
          temporaryFiles: forks.map((f) => basename(f.temporary)),
          publishedFiles: overlays.map((o) => o.fileName),
          removedFiles: [],
        },
        locks: {
          exclusive: [
            ...forks.map((f) => diskKey(f.source.newDiskId)),
            // Freezing changes the parent; forking an already frozen parent only reads it, so
            // forks of one parent run side by side.
            ...forks
              .filter((f) => frozen.has(f.base.layerId))
              .flatMap((f) => [layerKey(f.base.layerId), diskKey(f.source.diskId)]),
          ],
          shared: forks
            .filter((f) => !frozen.has(f.base.layerId))
            .flatMap((f) => [layerKey(f.base.layerId), diskKey(f.source.diskId)]),
        },
        reserveBytes: OVERLAY_BYTES * forks.length,
        result: {
          operationId,
          events,
          forks: forks.map((f) => ({
            sourceDiskId: f.source.diskId,
            diskId: f.source.newDiskId,
            layerId: f.overlay.layerId,
            export: f.export,
          })),
        },
        stage: async () => {
          await Promise.all(
            forks.map((f) => ctx.overlays.write(ctx.rootOf(datastoreId), f.base, f.temporary)),
          );
        },
        execute: async () => {
          // The parent stops writing where it is frozen: its writable export goes, its node turns read-only.
          for (const parent of parents.filter(
            (p) => frozen.has(p.layerId) && ctx.live.isOpenWritable(p.layerId),
          )) {
            for (const e of ctx.live.exportsOf(parent.layerId))
              await ctx.exports.closeExport(e.exportName);
            await ctx.live.reopenReadOnly(parent.layerId);
          }
          // The overlays are on disk already (spares are synced when made): renaming makes them
          // visible to the daemon at once, and the folder sync runs while it opens them.
          for (const f of forks) await rename(f.temporary, ctx.pathOf(f.overlay));
          const durable = fsyncPath(ctx.rootOf(datastoreId));
          // Different bases, different nodes: the daemon's answers for one overlay and the
          // next overlap instead of adding up.
          const opened = await Promise.allSettled(
            forks.map((f) =>
              ctx.exports.exportChain(
                [f.overlay, ...chainOf(graph, f.base.layerId)],
                f.export.exportName,
                true,
                f.source.newDiskId,
              ),
            ),
          );
          await durable;
          const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
          if (failed) {
            for (const f of forks)
              await ctx.live.unexport(f.export.exportName).catch(() => undefined);
            throw failed.reason;
          }
        },
        afterCommit: async () => {
          for (const f of forks) {
            const target = { diskId: f.source.newDiskId };
            ctx.exports.state.put(datastoreId, {
              exportName: f.export.exportName,
              target,
              writable: true,
              layerId: f.overlay.layerId,
            });
          }
        },
      };
    },
  );
}
