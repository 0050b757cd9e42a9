/**
 * The worker's data-plane entry point, for apps/worker: start the engine on the worker's
 * datastores (check included). The worker then calls the port (`DiskEnginePort`) itself, one
 * method per step of its jobs (apps/worker/src/jobs/). Nothing here knows Kafka, PostgreSQL or
 * NestJS.
 */
import { type DiskEnginePort } from './port';
import {
  type DegradedDatastore,
  QemuDiskEngine,
  type QemuDiskEngineConfig,
  type StartReport,
} from './engine/qemu-disk-engine';

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
