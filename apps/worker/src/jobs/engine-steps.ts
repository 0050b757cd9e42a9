/** Engine steps several jobs take: freeze a disk, open or close exports, a memory image. */
import type { DiskPlacement, LiveExport } from '@dolly/domain';
import { type JobContext, operationId } from './job-context';

/** Freezes a disk's top layer: from now on others may stand on it. */
export async function freeze(context: JobContext, diskId: string): Promise<void> {
  await context.engine.freeze(
    { operationId: operationId(context, 'freeze', diskId), diskId },
    { signal: context.signal },
  );
}

/** Opens a disk for a running VM and exports it over NBD. */
export async function openLive(context: JobContext, diskId: string): Promise<LiveExport> {
  return asVmExport(
    await context.engine.openLive(
      { operationId: operationId(context, 'open', diskId), target: { diskId } },
      { signal: context.signal },
    ),
  );
}

/** Closes whatever of these disks is exported (a running VM a pool deletes at once). */
export async function closeOpen(context: JobContext, diskIds: string[], step: string) {
  const open = new Set(context.engine.inventory().exports.map((exported) => exported.diskId));
  for (const diskId of diskIds.filter((id) => open.has(id))) {
    await context.engine.closeLive(
      { operationId: operationId(context, step, diskId), target: { diskId } },
      { signal: context.signal },
    );
  }
}

/** A fresh memory image, sized to the VM's memory; thin: it takes space as the guest writes it. */
export async function createMemoryImage(
  context: JobContext,
  id: string,
  datastoreId: string,
  memory: { imageId: string; sizeBytes: number },
): Promise<void> {
  await context.engine.createDisk(
    {
      operationId: id,
      datastoreId,
      diskId: memory.imageId,
      kind: 'memory',
      format: 'thin',
      capacityBytes: memory.sizeBytes,
    },
    { signal: context.signal },
  );
}

/** An engine export as the VM's events name it. */
export const asVmExport = (exported: {
  diskId: string | null;
  layerId: string;
  uri: string;
  writable: boolean;
}): LiveExport => ({
  imageId: exported.diskId ?? exported.layerId,
  uri: exported.uri,
  writable: exported.writable,
});

/** Where an engine result put a disk. */
export const placementOf = (result: {
  diskId: string;
  layerId: string;
  allocatedBytes: number;
}): DiskPlacement => ({
  diskId: result.diskId,
  layerId: result.layerId,
  allocatedBytes: result.allocatedBytes,
});
