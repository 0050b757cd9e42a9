/**
 * createDisk: a new empty disk, thin or thick (zeroed, with progress, when eager-zeroed).
 */
import { DEFAULT_CLUSTER_SIZE_BYTES } from '../../model/decide';
import { type CreateDisk, type DiskResult, type OperationOptions } from '../../port';
import * as qemuImg from '../../qemu/qemu-img';
import { type EngineContext } from '../engine-context';
import { ioProgress } from '../progress';
import { standaloneDecision, standaloneDiskPlan } from './new-disk';

export async function createDisk(
  ctx: EngineContext,
  command: CreateDisk,
  options?: OperationOptions,
): Promise<DiskResult> {
  const { operationId } = command;
  const clusterSizeBytes = command.clusterSizeBytes ?? DEFAULT_CLUSTER_SIZE_BYTES;
  return ctx.runner.run(
    'createDisk',
    command,
    async () => {
      const space = await ctx.space.probe(command.datastoreId, true);
      const measured = await qemuImg
        .measure(
          { format: command.format, clusterSizeBytes },
          { capacityBytes: command.capacityBytes },
        )
        .catch(() => undefined); // bad sizes are refused by the decision with a stable code
      return { space, measured };
    },
    (graph, { space, measured }) =>
      standaloneDiskPlan(
        ctx,
        graph,
        operationId,
        standaloneDecision(command, command.capacityBytes, clusterSizeBytes),
        measured,
        space,
        (temporary, layer) =>
          qemuImg.create({
            file: temporary,
            capacityBytes: layer.capacityBytes,
            clusterSizeBytes,
            format: command.format,
            signal: options?.signal,
            ioProgress:
              command.format === 'thick-eager-zeroed'
                ? ioProgress(options, operationId, 'zero', 'wchar', layer.capacityBytes)
                : undefined,
          }),
      ),
  );
}
