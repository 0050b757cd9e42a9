import { type Job, isVmJob, jobDisks } from '../jobs/jobs';
import { blockMapsMeasured } from '../vm/block-map-events';
import type { DiskPlacement, PackageProvenance } from '../vm/vm.events';
import type { Static } from '@sinclair/typebox';
import { abandonClone, completeClone } from './clone-vm';
import { abandonNewVm, completeCreateDisks } from './create-vm';
import { abandonDeleteVm, completeDeleteVm } from './delete-vm';
import { abandonExport, completeExport } from './export-vm';
import { completeImport } from './import-vm';
import { type ForkOutcome, abandonFork, completeFork } from './fork';
import {
  type RefreshOutcome,
  abandonRefresh,
  completeRefresh,
  poolMachineFailed,
  poolMachineForked,
  poolVmRemovalFailed,
  poolVmRemoved,
} from './pool-desktops';
import { type PoolImageOutcome, abandonPoolImage, completePoolImage } from './pool-image';
import { type PowerOutcome, completePower } from './power';
import { type RestoreOutcome, completeQuarantineRestore } from './quarantine';
import type { RebuildOutcome } from './rebuild-read-models';
import { type SnapshotOutcome, completeSnapshot } from './snapshot';
import {
  type IdSource,
  type JobEnding,
  type Measurements,
  endTask,
  existingTask,
  recordTaskFailed,
} from './steps';
import type { StreamKey, Workspace } from './workspace';

/**
 * How a worker's job ended, as the worker reports it, and what that does to every stream the job
 * touched: one entry per outcome (done, or ended without its effect), dispatched here by the
 * job's kind to its use case. The worker only says what happened.
 */

/** What a job did, by kind (the job's own kind). */
export type JobOutcome =
  | { kind: 'create-disks'; disks: DiskPlacement[] }
  | { kind: 'clone'; disks: DiskPlacement[] }
  | PowerOutcome
  | SnapshotOutcome
  | ForkOutcome
  | PoolImageOutcome
  | RefreshOutcome
  | { kind: 'delete-vm' }
  | RestoreOutcome
  | { kind: 'import'; disks: DiskPlacement[]; package: Static<typeof PackageProvenance> }
  | { kind: 'export' }
  | RebuildOutcome;

/** A worker's attempt of a task did its job. */
export interface JobDone {
  taskId: string;
  attempt: number;
  /** The worker reporting: it holds what the job opened (a clone powered on after, say). */
  workerId: string;
  outcome: JobOutcome;
  measured?: Measurements;
}

/**
 * The streams a job's outcome surely touches (a decision reads any other it needs), and the one
 * its decisions wait on each other for: a pool's (whatever the pool does next), or a hand-made
 * fork's parent, which every fork from it writes.
 */
export function jobOutcomeStreams(
  taskId: string,
  job: Job,
): { streams: StreamKey[]; serializeOn?: StreamKey } {
  const vms = (...ids: (string | null)[]) =>
    ids.filter((id): id is string => id !== null).map((id) => ({ kind: 'vm' as const, id }));
  const pool = (poolId: string | null) => (poolId ? [{ kind: 'pool' as const, id: poolId }] : []);
  const datastores = (...ids: string[]) =>
    [...new Set(ids)].map((id) => ({ kind: 'datastore' as const, id }));
  const task = { kind: 'task' as const, id: taskId };
  const streams = ((): StreamKey[] => {
    switch (job.kind) {
      case 'clone':
        return [task, ...vms(job.targetVmId, job.sourceVmId), ...datastores(job.targetDatastoreId)];
      case 'fork':
        return [
          task,
          ...vms(job.targetVmId, job.parentVmId, job.replicaVmId),
          ...datastores(job.datastoreId),
          ...pool(job.poolId),
        ];
      case 'pool-image':
        return [
          task,
          ...vms(
            job.goldenVmId,
            job.templateVmId,
            ...job.replicas.map((r) => r.replicaVmId),
            ...job.parents.map((p) => p.parentVmId),
          ),
          ...datastores(job.sourceDatastoreId, ...job.replicas.map((r) => r.datastoreId)),
          ...pool(job.poolId),
        ];
      case 'refresh':
        return [task, ...vms(job.vmId), ...pool(job.poolId)];
      case 'delete-vm':
        return [
          task,
          ...vms(job.vmId, job.linkedTo),
          ...datastores(job.datastoreId),
          ...pool(job.poolId),
        ];
      case 'restore-quarantined':
        return [task, ...datastores(job.datastoreId)];
      case 'rebuild-read-models':
        return [task];
      default:
        return [task, ...vms(jobDisks(job).vmId), ...datastores(jobDisks(job).datastoreId)];
    }
  })();
  const serializeOn =
    streams.find((key) => key.kind === 'pool') ??
    (job.kind === 'fork' ? { kind: 'vm' as const, id: job.parentVmId } : undefined);
  return { streams, serializeOn };
}

/** The outcome a job of this kind reports; any other does not fit it. */
function outcomeOf<K extends Job['kind']>(
  job: Extract<Job, { kind: K }>,
  outcome: JobOutcome,
): Extract<JobOutcome, { kind: K }> {
  if (outcome.kind !== job.kind)
    throw new Error(`Outcome ${outcome.kind} does not fit job ${job.kind}`);
  return outcome as Extract<JobOutcome, { kind: K }>;
}

/** A worker finished its attempt of a task: the task succeeds, and its job takes effect. */
export function completeJob(ws: Workspace, done: JobDone, ids: IdSource): void {
  const { taskId, attempt, workerId } = done;
  const { job } = existingTask(ws, taskId);
  ws.decideTask({ type: 'SucceedTask', data: { taskId, attempt } });
  switch (job.kind) {
    case 'create-disks':
      completeCreateDisks(ws, job, taskId, outcomeOf(job, done.outcome));
      break;
    case 'clone':
      completeClone(ws, job, { taskId, workerId, ...outcomeOf(job, done.outcome) }, ids);
      break;
    case 'power':
      completePower(ws, job, taskId, outcomeOf(job, done.outcome));
      break;
    case 'snapshot':
      completeSnapshot(ws, job, taskId, outcomeOf(job, done.outcome));
      break;
    case 'fork':
      completeFork(ws, job, taskId, outcomeOf(job, done.outcome));
      if (job.poolId) poolMachineForked(ws, { ...job, poolId: job.poolId }, ids);
      break;
    case 'pool-image':
      completePoolImage(ws, job, taskId, outcomeOf(job, done.outcome), ids);
      break;
    case 'refresh':
      completeRefresh(ws, job, taskId, outcomeOf(job, done.outcome), ids);
      break;
    case 'delete-vm':
      outcomeOf(job, done.outcome);
      completeDeleteVm(ws, job, taskId);
      if (job.poolId) poolVmRemoved(ws, { ...job, poolId: job.poolId }, ids);
      break;
    case 'restore-quarantined':
      outcomeOf(job, done.outcome);
      completeQuarantineRestore(ws, job, { taskId, workerId });
      break;
    case 'import':
      completeImport(ws, job, taskId, outcomeOf(job, done.outcome));
      break;
    case 'export':
      outcomeOf(job, done.outcome);
      completeExport(ws, job, taskId);
      break;
    case 'rebuild-read-models':
      // The switch-over is the effect, done by the projector: the task's success records it.
      outcomeOf(job, done.outcome);
      break;
  }
  if (done.measured) recordMeasurements(ws, taskId, job, done.measured);
}

/** What the worker measured after the work: the VM's block maps, the datastore's usage. */
function recordMeasurements(ws: Workspace, taskId: string, job: Job, measured: Measurements) {
  if (!isVmJob(job)) return;
  const { vmId, datastoreId } = jobDisks(job);
  if (measured.blockMaps.length > 0 && ws.vm(vmId).status === 'present') {
    ws.record('vm', vmId, blockMapsMeasured(vmId, taskId, measured.blockMaps));
  }
  if (measured.usage && ws.datastore(datastoreId).status === 'registered') {
    ws.record('datastore', datastoreId, [
      { type: 'DatastoreUsageMeasured', data: { datastoreId, ...measured.usage } },
    ]);
  }
}

/**
 * A task ended without its effect: failed (with a stable code) or cancelled. Whatever it began
 * was undone by the worker; here the streams let go: the VM is no longer busy, a VM that never
 * came to be leaves the inventory, claimed space returns, a pool goes on.
 */
export function abandonJob(ws: Workspace, reported: JobEnding, ids: IdSource): void {
  const task = existingTask(ws, reported.taskId);
  // Asked to stop, a task that then ends without its effect ends cancelled, whatever failed on
  // the way: the worker may learn of the cancel only after its work broke for it (the caller of an
  // export went away, which cut the download before the cancel reached the worker).
  const ending = task.cancelRequested ? { ...reported, cancelled: true } : reported;
  const { job } = task;
  endTask(ws, ending);
  switch (job.kind) {
    case 'create-disks':
      return abandonNewVm(ws, job, ending);
    case 'clone':
      return abandonClone(ws, job, ending);
    case 'power':
    case 'snapshot':
      return recordTaskFailed(ws, job.vmId, ending);
    case 'fork':
      abandonFork(ws, job, ending);
      if (job.poolId) poolMachineFailed(ws, { ...job, poolId: job.poolId }, ending, ids);
      return;
    case 'pool-image':
      return abandonPoolImage(ws, job, ending, ids);
    case 'refresh':
      return abandonRefresh(ws, job, ending);
    case 'delete-vm':
      abandonDeleteVm(ws, job, ending);
      if (job.poolId) poolVmRemovalFailed(ws, { ...job, poolId: job.poolId }, ending);
      return;
    case 'restore-quarantined':
      // Still broken (or cancelled): the layer stays quarantined, only the task ends.
      return;
    case 'import':
      // A refused package leaves what a failed create leaves: no VM, its space returned.
      return abandonNewVm(ws, job, ending);
    case 'export':
      return abandonExport(ws, job, ending);
    case 'rebuild-read-models':
      // The live read models served throughout and still do: only the task ends.
      return;
  }
}
