/**
 * After an operation's commit: the files of reclaimed layers removed (their exports closed
 * first), and the overlay templates nobody needs any more pruned.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { layersOfDatastore } from '../model/layer-graph';
import { fsyncPath } from '../store/fs-atomic';
import { type EngineContext } from './engine-context';
import { layerExportName } from './live-exports';

/** After a commit: exports of reclaimed layers close, their nodes go, then their files. */
export async function removeReclaimed(
  ctx: EngineContext,
  datastoreId: string,
  reclaimed: Array<{ layerId: string; fileName: string }>,
): Promise<void> {
  for (const { layerId, fileName } of reclaimed) {
    await ctx.exports.closeExport(layerExportName(layerId));
    await rm(join(ctx.rootOf(datastoreId), fileName), { force: true });
  }
  if (reclaimed.length) {
    await fsyncPath(ctx.rootOf(datastoreId));
    ctx.space.stale(datastoreId);
    await pruneTemplates(ctx, datastoreId);
  }
}

export async function pruneTemplates(ctx: EngineContext, datastoreId: string): Promise<void> {
  const root = ctx.rootOf(datastoreId);
  await ctx.overlays.prune(
    root,
    () => {
      ctx.runner.refreshAll();
      return new Set(layersOfDatastore(ctx.runner.graph, datastoreId).map((l) => l.layerId));
    },
    (name) => ctx.owners.keepsTemporary(root, name),
  );
}
