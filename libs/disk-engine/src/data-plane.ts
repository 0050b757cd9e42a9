/**
 * The worker's data-plane entry points, for apps/worker to wire to its Kafka consumers: start
 * the engine on the worker's datastores (check included), and run one disk job (a plain JSON
 * message) to a plain JSON outcome that the worker publishes as events. Nothing here knows
 * Kafka, PostgreSQL or NestJS.
 */
import { type DiskErrorData, toDiskErrorData } from './errors';
import {
  type CheckDatastores,
  type CloseLive,
  type Consolidate,
  type CreateDisk,
  type DeleteDisk,
  type DiskEnginePort,
  type ExportVmdk,
  type Fork,
  type FreezeDisk,
  type FullClone,
  type ImportImage,
  type LinkedClone,
  type Materialise,
  type OpenLive,
  type OperationOptions,
  type RestoreQuarantined,
  type SnapshotDisk,
} from './port';
import {
  type DegradedDatastore,
  QemuDiskEngine,
  type QemuDiskEngineConfig,
  type StartReport,
} from './engine/qemu-disk-engine';

export type DiskJob =
  | { kind: 'createDisk'; command: CreateDisk }
  | { kind: 'snapshot'; command: SnapshotDisk }
  | { kind: 'freeze'; command: FreezeDisk }
  | { kind: 'linkedClone'; command: LinkedClone }
  | { kind: 'fullClone'; command: FullClone }
  | { kind: 'consolidate'; command: Consolidate }
  | { kind: 'materialise'; command: Materialise }
  | { kind: 'deleteDisk'; command: DeleteDisk }
  | { kind: 'importImage'; command: ImportImage }
  | { kind: 'exportVmdk'; command: ExportVmdk }
  | { kind: 'fork'; command: Fork }
  | { kind: 'openLive'; command: OpenLive }
  | { kind: 'closeLive'; command: CloseLive }
  | { kind: 'check'; command: CheckDatastores }
  | { kind: 'restoreQuarantined'; command: RestoreQuarantined };

export type DiskJobOutcome =
  | { operationId: string; kind: DiskJob['kind']; status: 'succeeded'; result: unknown }
  | { operationId: string; kind: DiskJob['kind']; status: 'failed'; error: DiskErrorData };

export interface DiskDataPlane {
  engine: DiskEnginePort;
  /** `inaccessible`: the datastores left out because their folder could not be opened. */
  report: StartReport;
  /** Served datastores whose last check could not judge every layer (left as they are). */
  degraded(): DegradedDatastore[];
  stop(): Promise<void>;
}

export async function startDiskDataPlane(config: QemuDiskEngineConfig): Promise<DiskDataPlane> {
  const { engine, report } = await QemuDiskEngine.start(config);
  return { engine, report, degraded: () => engine.degraded(), stop: () => engine.stop() };
}

function dispatch(
  engine: DiskEnginePort,
  job: DiskJob,
  options?: OperationOptions,
): Promise<unknown> {
  switch (job.kind) {
    case 'createDisk':
      return engine.createDisk(job.command, options);
    case 'snapshot':
      return engine.snapshot(job.command, options);
    case 'freeze':
      return engine.freeze(job.command, options);
    case 'linkedClone':
      return engine.linkedClone(job.command, options);
    case 'fullClone':
      return engine.fullClone(job.command, options);
    case 'consolidate':
      return engine.consolidate(job.command, options);
    case 'materialise':
      return engine.materialise(job.command, options);
    case 'deleteDisk':
      return engine.deleteDisk(job.command, options);
    case 'importImage':
      return engine.importImage(job.command, options);
    case 'exportVmdk':
      return engine.exportVmdk(job.command, options);
    case 'fork':
      return engine.fork(job.command, options);
    case 'openLive':
      return engine.openLive(job.command, options);
    case 'closeLive':
      return engine.closeLive(job.command, options).then(() => null);
    case 'check':
      return engine.check(job.command, options);
    case 'restoreQuarantined':
      return engine.restoreQuarantined(job.command, options);
    default: {
      const unknown: never = job;
      return Promise.reject(new Error(`unknown disk job ${JSON.stringify(unknown)}`));
    }
  }
}

/** Runs a job to an outcome; expected failures come back as values with stable codes. */
export async function runDiskJob(
  engine: DiskEnginePort,
  job: DiskJob,
  options?: OperationOptions,
): Promise<DiskJobOutcome> {
  const { operationId } = job.command;
  try {
    const result = await dispatch(engine, job, options);
    return { operationId, kind: job.kind, status: 'succeeded', result };
  } catch (error) {
    return { operationId, kind: job.kind, status: 'failed', error: toDiskErrorData(error) };
  }
}
