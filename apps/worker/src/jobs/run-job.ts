import type { DiskEnginePort, OperationProgress } from '@dolly/disk-engine';
import type {
  CloneJob,
  CreateDisksJob,
  DeleteVmJob,
  DiskPlacement,
  ForkJob,
  Job,
  JobOutcome,
  LiveExport,
  PoolImageJob,
  PowerJob,
  RefreshJob,
  RestoreOutcome,
  RestoreQuarantinedJob,
  SnapshotJob,
} from '@dolly/domain';

/** What a job did: the outcome its task records. */
export type AnyOutcome = JobOutcome;

export interface JobContext {
  engine: DiskEnginePort;
  taskId: string;
  workerId: string;
  signal: AbortSignal;
  /** Aggregated progress of the whole job. */
  progress(phase: string, doneBytes: number, totalBytes: number): void;
}

/**
 * The same task keeps the same operation ids across attempts: a worker taking over a task the
 * engine already finished (or half did) gets the recorded outcome, or the engine's recovery.
 */
// The engine's ids allow letters, digits, '-', '_' and '.' (no '/'), up to 128 characters.
const operationId = (context: JobContext, ...parts: string[]) =>
  [context.taskId, ...parts].join('.');

/** Freezes a disk's top layer: from now on others may stand on it. */
async function freeze(context: JobContext, diskId: string): Promise<void> {
  await context.engine.freeze(
    { operationId: operationId(context, 'freeze', diskId), diskId },
    { signal: context.signal },
  );
}

/** Opens a disk for a running VM and exports it over NBD. */
async function openLive(context: JobContext, diskId: string): Promise<LiveExport> {
  return asVmExport(
    await context.engine.openLive(
      { operationId: operationId(context, 'open', diskId), target: { diskId } },
      { signal: context.signal },
    ),
  );
}

/** Progress of several engine operations run one after the other, as one bar. */
function progressOverSteps(context: JobContext, totals: number[]) {
  const total = totals.reduce((a, b) => a + b, 0);
  let before = 0;
  return {
    step(index: number) {
      before = totals.slice(0, index).reduce((a, b) => a + b, 0);
      return {
        onProgress: (p: OperationProgress) =>
          context.progress(p.phase, before + Math.min(p.doneBytes, totals[index]), total),
        signal: context.signal,
      };
    },
    done: () => context.progress('done', total, total),
  };
}

async function createDisks(job: CreateDisksJob, context: JobContext): Promise<JobOutcome> {
  const steps = progressOverSteps(
    context,
    job.disks.map((d) => (d.format === 'thick-eager-zeroed' ? d.capacityBytes : 1)),
  );
  const disks: DiskPlacement[] = [];
  for (const [index, disk] of job.disks.entries()) {
    const result = await context.engine.createDisk(
      {
        operationId: operationId(context, 'create', disk.diskId),
        datastoreId: job.datastoreId,
        diskId: disk.diskId,
        format: disk.format,
        capacityBytes: disk.capacityBytes,
      },
      steps.step(index),
    );
    disks.push({
      diskId: disk.diskId,
      layerId: result.layerId,
      allocatedBytes: result.allocatedBytes,
    });
  }
  steps.done();
  return { kind: 'create-disks', disks };
}

/** A template's disks become frozen when something first stands on them (converting copied nothing). */
async function frozenSource(context: JobContext, job: CloneJob, disk: CloneJob['disks'][number]) {
  if (disk.sourceLayerId) return { layerId: disk.sourceLayerId };
  const inventory = context.engine.inventory();
  const source = inventory.disks.find((d) => d.diskId === disk.sourceDiskId);
  const top = source && inventory.layers.find((l) => l.layerId === source.topLayerId);
  if (top && !top.frozen) {
    await freeze(context, disk.sourceDiskId);
  }
  void job;
  return { diskId: disk.sourceDiskId };
}

async function clone(job: CloneJob, context: JobContext): Promise<JobOutcome> {
  const steps = progressOverSteps(
    context,
    job.disks.map((d) => (job.linked ? 1 : d.capacityBytes)),
  );
  const disks: DiskPlacement[] = [];
  for (const [index, disk] of job.disks.entries()) {
    const result = job.linked
      ? await context.engine.linkedClone(
          {
            operationId: operationId(context, 'link', disk.diskId),
            source: await frozenSource(context, job, disk),
            diskId: disk.diskId,
            datastoreId: job.targetDatastoreId,
          },
          steps.step(index),
        )
      : await context.engine.fullClone(
          {
            operationId: operationId(context, 'copy', disk.diskId),
            source: disk.sourceLayerId
              ? { layerId: disk.sourceLayerId }
              : { diskId: disk.sourceDiskId },
            diskId: disk.diskId,
            datastoreId: job.targetDatastoreId,
            format: disk.format,
          },
          steps.step(index),
        );
    disks.push({
      diskId: disk.diskId,
      layerId: result.layerId,
      allocatedBytes: result.allocatedBytes,
    });
  }
  steps.done();
  return { kind: 'clone', disks };
}

const asVmExport = (exported: {
  diskId: string | null;
  layerId: string;
  uri: string;
  writable: boolean;
}): LiveExport => ({
  imageId: exported.diskId ?? exported.layerId,
  uri: exported.uri,
  writable: exported.writable,
});

async function power(job: PowerJob, context: JobContext): Promise<JobOutcome> {
  const { engine } = context;
  const memoryId = job.memoryImage.imageId;
  if (job.to === 'poweredOn') {
    const exports: LiveExport[] = [];
    for (const diskId of job.diskIds) exports.push(await openLive(context, diskId));
    if (job.from !== 'suspended') {
      // A fresh memory image, sized to the VM's memory; thin: it takes space as the guest writes it.
      await engine.createDisk(
        {
          operationId: operationId(context, 'memory'),
          datastoreId: job.datastoreId,
          diskId: memoryId,
          kind: 'memory',
          format: 'thin',
          capacityBytes: job.memoryImage.sizeBytes,
        },
        { signal: context.signal },
      );
    }
    const memoryImage = await openLive(context, memoryId);
    context.progress('done', 1, 1);
    return { kind: 'power', to: 'poweredOn', workerId: context.workerId, exports, memoryImage };
  }
  // A suspended VM's disks are closed already; only what is open is closed.
  const open = new Set(engine.inventory().exports.map((exported) => exported.diskId));
  for (const diskId of [...job.diskIds, memoryId].filter((id) => open.has(id))) {
    await engine.closeLive(
      { operationId: operationId(context, 'close', diskId), target: { diskId } },
      { signal: context.signal },
    );
  }
  // Suspended keeps the memory image to resume from; powered off drops it.
  if (job.to === 'poweredOff') {
    await engine.deleteDisk(
      { operationId: operationId(context, 'forget-memory'), diskId: memoryId },
      { signal: context.signal },
    );
  }
  context.progress('done', 1, 1);
  return { kind: 'power', to: job.to };
}

async function snapshot(job: SnapshotJob, context: JobContext): Promise<JobOutcome> {
  const { engine } = context;
  switch (job.action) {
    case 'take': {
      const layers: { diskId: string; layerId: string }[] = [];
      const disks: DiskPlacement[] = [];
      for (const { diskId } of job.disks) {
        const result = await engine.snapshot(
          { operationId: operationId(context, 'snapshot', diskId), diskId },
          { signal: context.signal },
        );
        layers.push({ diskId, layerId: result.frozenLayerId });
        disks.push({ diskId, layerId: result.topLayerId, allocatedBytes: 0 });
      }
      context.progress('done', 1, 1);
      return { kind: 'snapshot', action: 'take', layers, disks };
    }
    case 'revert': {
      const disks: DiskPlacement[] = [];
      for (const disk of job.disks) {
        const result = await engine.revert({
          operationId: operationId(context, 'revert', disk.diskId),
          diskId: disk.diskId,
          layerId: disk.snapshotLayerId!,
        });
        disks.push({
          diskId: disk.diskId,
          layerId: result.layerId,
          allocatedBytes: result.allocatedBytes,
        });
      }
      context.progress('done', 1, 1);
      return { kind: 'snapshot', action: 'revert', disks };
    }
    case 'delete': {
      const inventory = engine.inventory();
      for (const disk of job.disks) {
        // The layer standing right on the snapshot's takes it in (the disk's top for the latest one).
        const above = inventory.layers.find(
          (layer) =>
            layer.backingLayerId === disk.snapshotLayerId && layer.datastoreId === job.datastoreId,
        );
        const target = above ? { layerId: above.layerId } : { diskId: disk.diskId };
        await engine.consolidate(
          { operationId: operationId(context, 'consolidate', disk.diskId), target },
          { signal: context.signal },
        );
      }
      context.progress('done', 1, 1);
      return { kind: 'snapshot', action: 'delete' };
    }
  }
}

/** Closes whatever of these disks is exported (a running VM a pool deletes at once). */
async function closeOpen(context: JobContext, diskIds: string[], step: string) {
  const open = new Set(context.engine.inventory().exports.map((exported) => exported.diskId));
  for (const diskId of diskIds.filter((id) => open.has(id))) {
    await context.engine.closeLive(
      { operationId: operationId(context, step, diskId), target: { diskId } },
      { signal: context.signal },
    );
  }
}

async function deleteVm(job: DeleteVmJob, context: JobContext): Promise<JobOutcome> {
  if (job.live) {
    await closeOpen(
      context,
      [...job.diskIds, ...(job.memoryImageId ? [job.memoryImageId] : [])],
      'close',
    );
  }
  const known = new Set(context.engine.inventory().disks.map((d) => d.diskId));
  for (const diskId of [...job.diskIds, ...(job.memoryImageId ? [job.memoryImageId] : [])]) {
    // A retried delete finds some disks gone already.
    if (!known.has(diskId)) continue;
    await context.engine.deleteDisk(
      { operationId: operationId(context, 'delete', diskId), diskId },
      { signal: context.signal },
    );
  }
  context.progress('done', 1, 1);
  return { kind: 'delete-vm' };
}

const placementOf = (result: {
  diskId: string;
  layerId: string;
  allocatedBytes: number;
}): DiskPlacement => ({
  diskId: result.diskId,
  layerId: result.layerId,
  allocatedBytes: result.allocatedBytes,
});

/**
 * An instant clone: overlays of the parent's disks and memory image over their frozen state (the
 * first fork freezes the parent), exported at once. No data is copied and nothing boots.
 */
async function fork(job: ForkJob, context: JobContext): Promise<JobOutcome> {
  const { engine } = context;
  const result = await engine.fork(
    {
      operationId: operationId(context, 'fork'),
      sources: [
        ...job.disks.map((d) => ({ diskId: d.sourceDiskId, newDiskId: d.diskId })),
        { diskId: job.memoryImage.sourceImageId, newDiskId: job.memoryImage.imageId },
      ],
    },
    { signal: context.signal },
  );
  const byDisk = new Map(result.forks.map((f) => [f.diskId, f]));
  const froze = result.events.some((event) => event.type === 'LayerFrozen');
  const parentDisks = new Set(job.disks.map((d) => d.sourceDiskId));
  context.progress('done', 1, 1);
  return {
    kind: 'fork',
    disks: job.disks.map((d) => {
      const forked = byDisk.get(d.diskId)!;
      // A new overlay holds no data yet; the block maps measured next say what it takes.
      return { diskId: d.diskId, layerId: forked.layerId, allocatedBytes: 0 };
    }),
    workerId: context.workerId,
    exports: job.disks.map((d) => asVmExport(byDisk.get(d.diskId)!.export)),
    memoryImage: asVmExport(byDisk.get(job.memoryImage.imageId)!.export),
    parentExports: froze
      ? engine
          .inventory()
          .exports.filter((e) => e.diskId && parentDisks.has(e.diskId))
          .map(asVmExport)
      : null,
  };
}

/**
 * A pool's image: the internal template (a linked clone of the golden snapshot, frozen), a replica
 * on each datastore (a thin flattened copy of the template, frozen: the read-only base), and each
 * parent (a linked clone of its datastore's replica), whose disks and a fresh memory image are
 * opened. Progress counts the replicas' copies, the only long part.
 */
async function poolImage(job: PoolImageJob, context: JobContext): Promise<JobOutcome> {
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
    await engine.createDisk(
      {
        operationId: operationId(context, 'memory', memoryId),
        datastoreId: parent.datastoreId,
        diskId: memoryId,
        kind: 'memory',
        format: 'thin',
        capacityBytes: parent.memory.sizeBytes,
      },
      { signal },
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

/**
 * Back to the fork state: each overlay (disks and memory) is replaced by a new empty one over the
 * same frozen base, and reopened. The VM keeps its disks' ids, its name and its MAC.
 */
async function refresh(job: RefreshJob, context: JobContext): Promise<JobOutcome> {
  const { engine, signal } = context;
  const images = [...job.diskIds, job.memoryImageId];
  await closeOpen(context, images, 'close');
  const disks: DiskPlacement[] = [];
  const opened = new Map<string, LiveExport>();
  for (const diskId of images) {
    const inventory = engine.inventory();
    const top = inventory.layers.find(
      (l) => l.layerId === inventory.disks.find((d) => d.diskId === diskId)?.topLayerId,
    );
    if (!top?.backingLayerId) throw new Error(`Disk ${diskId} has no fork base to go back to`);
    const result = await engine.revert(
      { operationId: operationId(context, 'refresh', diskId), diskId, layerId: top.backingLayerId },
      { signal },
    );
    if (diskId !== job.memoryImageId) disks.push(placementOf(result));
    opened.set(
      diskId,
      asVmExport(
        await engine.openLive(
          { operationId: operationId(context, 'reopen', diskId), target: { diskId } },
          { signal },
        ),
      ),
    );
  }
  context.progress('done', 1, 1);
  return {
    kind: 'refresh',
    disks,
    exports: job.diskIds.map((diskId) => opened.get(diskId)!),
    memoryImage: opened.get(job.memoryImageId)!,
  };
}

/**
 * The engine checks the layer again (qemu-img, a regular file, nothing below it quarantined) and
 * takes it back, or refuses with the reason (DISK.STILL_BROKEN...): the task fails with it.
 */
async function restoreQuarantined(
  job: RestoreQuarantinedJob,
  context: JobContext,
): Promise<RestoreOutcome> {
  await context.engine.restoreQuarantined(
    {
      operationId: operationId(context, 'restore', job.layerId),
      datastoreId: job.datastoreId,
      layerId: job.layerId,
    },
    {
      signal: context.signal,
      onProgress: (p) => context.progress(p.phase, p.doneBytes, p.totalBytes),
    },
  );
  context.progress('done', 1, 1);
  return { kind: 'restore-quarantined', layerId: job.layerId };
}

/** Does a job's disk work with the engine; what it did comes back as the outcome the task records. */
export function runJob(job: Job, context: JobContext): Promise<AnyOutcome> {
  switch (job.kind) {
    case 'create-disks':
      return createDisks(job, context);
    case 'clone':
      return clone(job, context);
    case 'power':
      return power(job, context);
    case 'snapshot':
      return snapshot(job, context);
    case 'delete-vm':
      return deleteVm(job, context);
    case 'fork':
      return fork(job, context);
    case 'pool-image':
      return poolImage(job, context);
    case 'refresh':
      return refresh(job, context);
    case 'restore-quarantined':
      return restoreQuarantined(job, context);
  }
}
