/**
 * deleteDisk: the handle goes; layers nobody stands on any more are reclaimed.
 */
import { decideDeleteDisk } from '../../model/decide';
import { type LayerReclaimed } from '../../model/events';
import { getDisk } from '../../model/layer-graph';
import { type DeleteDisk, type OperationResult } from '../../port';
import { type EngineContext } from '../engine-context';
import { diskKey, layerKey } from '../locks';
import { removeReclaimed } from '../reclaim';

export async function deleteDisk(
  ctx: EngineContext,
  command: DeleteDisk,
): Promise<OperationResult> {
  const { operationId } = command;
  return ctx.runner.run(
    'deleteDisk',
    command,
    async () => undefined,
    (graph) => {
      const disk = getDisk(graph, command.diskId);
      const events = decideDeleteDisk(graph, command);
      const reclaimed = events
        .filter((e): e is LayerReclaimed => e.type === 'LayerReclaimed')
        .map((e) => e.data);
      return {
        datastoreId: disk.datastoreId,
        events,
        intent: {
          temporaryFiles: [],
          publishedFiles: [],
          removedFiles: reclaimed.map((r) => r.fileName),
        },
        locks: {
          exclusive: [diskKey(disk.diskId), ...reclaimed.map((r) => layerKey(r.layerId))],
          shared: [],
        },
        result: { operationId, events },
        execute: () => ctx.exports.closeExport(command.diskId),
        afterCommit: () => removeReclaimed(ctx, disk.datastoreId, reclaimed),
      };
    },
  );
}
