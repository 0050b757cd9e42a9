/**
 * freeze: the disk's top is frozen in place (convert to template), nothing copied.
 */
import { DiskEngineError } from '../../errors';
import { decideFreeze } from '../../model/decide';
import { getDisk, getLayer } from '../../model/layer-graph';
import { type FreezeDisk, type OperationResult } from '../../port';
import { type EngineContext } from '../engine-context';
import { diskKey, layerKey } from '../locks';

export async function freeze(ctx: EngineContext, command: FreezeDisk): Promise<OperationResult> {
  const { operationId } = command;
  return ctx.runner.run(
    'freeze',
    command,
    async () => undefined,
    (graph) => {
      const events = decideFreeze(graph, { diskId: command.diskId });
      const top = getLayer(graph, getDisk(graph, command.diskId).topLayerId);
      if (ctx.live.isOpenWritable(top.layerId)) {
        throw new DiskEngineError(
          'DISK.IN_USE',
          `disk ${command.diskId} is open for writing; close it first`,
          {
            diskId: command.diskId,
          },
        );
      }
      return {
        datastoreId: top.datastoreId,
        events,
        intent: { temporaryFiles: [], publishedFiles: [], removedFiles: [] },
        locks: { exclusive: [diskKey(command.diskId), layerKey(top.layerId)], shared: [] },
        result: { operationId, events },
      };
    },
  );
}
