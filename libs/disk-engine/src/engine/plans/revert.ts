/**
 * revert: the disk stands on a new empty delta over one of its frozen layers; what it leaves is reclaimed.
 */
import { DiskEngineError } from '../../errors';
import { decideRevert } from '../../model/decide';
import { type LayerCreated, type LayerReclaimed } from '../../model/events';
import { getDisk, getLayer } from '../../model/layer-graph';
import { type DiskResult, type RevertDisk } from '../../port';
import { type EngineContext } from '../engine-context';
import { diskKey, layerKey } from '../locks';
import { removeReclaimed } from '../reclaim';
import { OVERLAY_BYTES } from '../space-accounting';
import { newDiskPlan } from './new-disk';

export async function revert(ctx: EngineContext, command: RevertDisk): Promise<DiskResult> {
  const { operationId } = command;
  return ctx.runner.run(
    'revert',
    command,
    async () => undefined,
    (graph) => {
      const disk = getDisk(graph, command.diskId);
      if (ctx.live.isOpen(disk.topLayerId)) {
        throw new DiskEngineError(
          'DISK.IN_USE',
          `disk ${command.diskId} is open; close it before reverting`,
          { diskId: command.diskId },
        );
      }
      const events = decideRevert(graph, command, ctx.decisionContext());
      const delta = (events.find((e) => e.type === 'LayerCreated') as LayerCreated).data;
      const base = getLayer(graph, command.layerId);
      const reclaimed = events
        .filter((e): e is LayerReclaimed => e.type === 'LayerReclaimed')
        .map((e) => e.data);
      const temporary = ctx.temporaryPath(delta.datastoreId, delta.fileName, operationId);
      const plan = newDiskPlan(ctx, operationId, events, delta, temporary, OVERLAY_BYTES, () =>
        ctx.overlays.write(ctx.rootOf(base.datastoreId), base, temporary),
      );
      return {
        ...plan,
        intent: { ...plan.intent, removedFiles: reclaimed.map((r) => r.fileName) },
        locks: {
          exclusive: [
            diskKey(disk.diskId),
            layerKey(delta.layerId),
            ...reclaimed.map((r) => layerKey(r.layerId)),
          ],
          shared: [layerKey(base.layerId)],
        },
        result: { ...plan.result, diskId: disk.diskId },
        afterCommit: () => removeReclaimed(ctx, disk.datastoreId, reclaimed),
      };
    },
  );
}
