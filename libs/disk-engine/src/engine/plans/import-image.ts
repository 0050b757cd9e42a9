/**
 * importImage: a raw, qcow2 or VMDK image copied in as a new disk.
 */
import { DEFAULT_CLUSTER_SIZE_BYTES } from '../../model/decide';
import { type DiskResult, type ImportImage, type OperationOptions } from '../../port';
import * as qemuImg from '../../qemu/qemu-img';
import { type EngineContext } from '../engine-context';
import { inspectImport } from '../import';
import { ioProgress } from '../progress';
import { standaloneDecision, standaloneDiskPlan } from './new-disk';

export async function importImage(
  ctx: EngineContext,
  command: ImportImage,
  options?: OperationOptions,
): Promise<DiskResult> {
  const { operationId } = command;
  const clusterSizeBytes = DEFAULT_CLUSTER_SIZE_BYTES;
  return ctx.runner.run(
    'importImage',
    command,
    async () => {
      const source = await inspectImport(command.sourcePath, command.sourceFormat);
      const measured = await qemuImg.measure(
        { format: command.format, clusterSizeBytes },
        { file: command.sourcePath, format: command.sourceFormat },
      );
      const space = await ctx.space.probe(command.datastoreId, true);
      return { source, measured, space };
    },
    (graph, { source, measured, space }) =>
      standaloneDiskPlan(
        ctx,
        graph,
        operationId,
        standaloneDecision(command, source.virtualSizeBytes, clusterSizeBytes),
        measured,
        space,
        (temporary) =>
          qemuImg.convert({
            source: { file: command.sourcePath, format: command.sourceFormat },
            target: {
              file: temporary,
              format: 'qcow2',
              provisioning: command.format,
              clusterSizeBytes,
            },
            signal: options?.signal,
            ioProgress: ioProgress(options, operationId, 'import', 'rchar', source.actualSizeBytes),
          }),
      ),
  );
}
