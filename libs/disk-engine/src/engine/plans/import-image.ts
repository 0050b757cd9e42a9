/**
 * importImage: a raw, qcow2 or VMDK image copied in as a new disk.
 */
import { DEFAULT_CLUSTER_SIZE_BYTES } from '../../model/decide';
import { type ProvisioningFormat } from '../../model/layer-graph';
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
          convertImported(
            { file: command.sourcePath, format: command.sourceFormat, image: source },
            { file: temporary, provisioning: command.format, clusterSizeBytes },
            operationId,
            options,
          ),
      ),
  );
}

/**
 * The one conversion of an inspected image (inspectImport) into a new layer's temporary qcow2 of
 * the target provisioning: importImage's, and a streamed import's spooled file.
 */
export function convertImported(
  source: { file: string; format: ImportImage['sourceFormat']; image: qemuImg.ImageInfo },
  target: { file: string; provisioning: ProvisioningFormat; clusterSizeBytes: number },
  operationId: string,
  options: OperationOptions | undefined,
): Promise<void> {
  return qemuImg.convert({
    source: { file: source.file, format: source.format },
    target: {
      file: target.file,
      format: 'qcow2',
      provisioning: target.provisioning,
      clusterSizeBytes: target.clusterSizeBytes,
    },
    signal: options?.signal,
    ioProgress: ioProgress(options, operationId, 'import', 'rchar', source.image.actualSizeBytes),
  });
}
