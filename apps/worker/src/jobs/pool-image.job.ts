import type { JobOutcome, DiskPlacement, LiveExport, PoolImageJob } from '@dolly/domain';
import { createMemoryImage, freeze, openLive, placementOf } from './engine-steps';
import { type JobContext, operationId, progressOverSteps } from './job-context';

/**
 * A pool's image: the internal template (a linked clone of the golden snapshot, frozen), a replica
 * on each datastore (a thin flattened copy of the template, frozen: the read-only base), and each
 * parent (a linked clone of its datastore's replica), whose disks and a fresh memory image are
 * opened. Progress counts the replicas' copies, the only long part.
 */
export async function poolImage(job: PoolImageJob, context: JobContext): Promise<JobOutcome> {
  const { engine, signal } = context;
  const copies = job.replicas.flatMap((replica) =>
    replica.diskIds.map((diskId, index) => ({ replica, diskId, source: job.disks[index] })),
  );
  const steps = progressOverSteps(
    context,
    copies.map((copy) => copy.source.capacityBytes),
  );
  const template: DiskPlacement[] = [];
  for (const disk of job.disks) {
    template.push(
      placementOf(
        await engine.linkedClone(
          {
            operationId: operationId(context, 'template', disk.templateDiskId),
            source: { layerId: disk.snapshotLayerId },
            diskId: disk.templateDiskId,
            datastoreId: job.sourceDatastoreId,
          },
          { signal },
        ),
      ),
    );
    await freeze(context, disk.templateDiskId);
  }
  const replicas = new Map<string, DiskPlacement[]>(job.replicas.map((r) => [r.replicaVmId, []]));
  for (const [index, { replica, diskId, source }] of copies.entries()) {
    replicas.get(replica.replicaVmId)!.push(
      placementOf(
        await engine.fullClone(
          {
            operationId: operationId(context, 'replica', diskId),
            source: { diskId: source.templateDiskId },
            diskId,
            datastoreId: replica.datastoreId,
            format: 'thin',
          },
          steps.step(index),
        ),
      ),
    );
    await freeze(context, diskId);
  }
  const replicaDisks = new Map(job.replicas.map((r) => [r.replicaVmId, r.diskIds]));
  const parents: Extract<JobOutcome, { kind: 'pool-image' }>['parents'] = [];
  for (const parent of job.parents) {
    const disks: DiskPlacement[] = [];
    const exports: LiveExport[] = [];
    for (const [index, diskId] of parent.diskIds.entries()) {
      disks.push(
        placementOf(
          await engine.linkedClone(
            {
              operationId: operationId(context, 'parent', diskId),
              source: { diskId: replicaDisks.get(parent.replicaVmId)![index] },
              diskId,
              datastoreId: parent.datastoreId,
            },
            { signal },
          ),
        ),
      );
      exports.push(await openLive(context, diskId));
    }
    const memoryId = parent.memory.imageId;
    await createMemoryImage(
      context,
      operationId(context, 'memory', memoryId),
      parent.datastoreId,
      parent.memory,
    );
    parents.push({ disks, exports, memoryImage: await openLive(context, memoryId) });
  }
  steps.done();
  return {
    kind: 'pool-image',
    template,
    replicas: job.replicas.map((r) => replicas.get(r.replicaVmId)!),
    parents,
    workerId: context.workerId,
  };
}
