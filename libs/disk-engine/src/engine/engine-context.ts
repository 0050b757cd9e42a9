/**
 * What the parts of the QEMU disk engine share: the operation runner (graph, log, locks), the
 * live exports (daemon, node graph, NBD), space accounting, the overlay templates, the owner
 * locks, and where a datastore's files are. The facade (qemu-disk-engine.ts) makes one; the
 * operation plans (plans/), block I/O and check take it.
 */
import { join } from 'node:path';
import { type DecisionContext } from '../model/decide';
import { type Layer } from '../model/layer-graph';
import { temporaryFileName } from '../model/names';
import { type LiveGraph } from '../daemon/live-graph';
import { type QemuDiskEngineConfig } from './engine-config';
import { type LiveExports } from './live-exports';
import { type OperationRunner } from './operation-runner';
import { type OverlayFactory } from './overlays';
import { type Owners } from './owners';
import { type SpaceAccounting } from './space-accounting';

export interface DatastorePaths {
  rootOf(datastoreId: string): string;
  pathOf(layer: Layer): string;
  /** Where an operation writes a file before it gets its layer's name. */
  temporaryPath(datastoreId: string, fileName: string, operationId: string): string;
}

export interface EngineContext extends DatastorePaths {
  readonly config: QemuDiskEngineConfig;
  readonly runner: OperationRunner;
  readonly exports: LiveExports;
  /** The daemon's node graph (the same as `exports.live`). */
  readonly live: LiveGraph;
  readonly space: SpaceAccounting;
  readonly overlays: OverlayFactory;
  readonly owners: Owners;
  readonly maxChainDepth: number;
  now(): string;
  /** The time and the new layer ids a decision of the model takes. */
  decisionContext(): DecisionContext;
}

/** Where the files of the runner's datastores are. */
export function datastorePaths(runner: OperationRunner): DatastorePaths {
  const rootOf = (datastoreId: string) => runner.datastore(datastoreId).root;
  return {
    rootOf,
    pathOf: (layer) => join(rootOf(layer.datastoreId), layer.fileName),
    temporaryPath: (datastoreId, fileName, operationId) =>
      join(rootOf(datastoreId), temporaryFileName(fileName, operationId)),
  };
}
