/**
 * The QEMU driver of the disk engine port: qemu-img for offline work, one qemu-storage-daemon
 * (over QMP) for disks in use, the pure model for every decision, and the operation log for
 * idempotency and recovery. See port.ts for the contract and operation-runner.ts for how each
 * operation is logged, executed and committed.
 *
 * This class only composes the engine's parts and answers the port with them:
 *   plans/               one file per operation: decision, locks, intent, physical work
 *   space-accounting.ts  what layers take, what is free and reserved
 *   live-exports.ts      the daemon, its node graph and NBD exports, the engine's NBD clients
 *   block-io.ts          read, write, block maps
 *   datastore-checks.ts  check of every datastore, degraded ones, what was quarantined
 *   open-datastore.ts    opening a datastore's folder (at the start, or to probe one left out)
 */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { type BlockMap } from '../model/block-map';
import { DEFAULT_MAX_CHAIN_DEPTH } from '../model/chain-depth';
import { type LayerRef, resolveLayer } from '../model/decide';
import { type LayerGraph, getDisk, mergeGraphs } from '../model/layer-graph';
import { assertValidId } from '../model/names';
import { type OperationRecord } from '../model/operation-log';
import { type DatastoreSpace } from '../model/space';
import { type LiveExport } from '../daemon/live-graph';
import { type DatastoreStore } from '../store/datastore-store';
import {
  type CheckDatastores,
  type CloseLive,
  type Consolidate,
  type CreateDisk,
  type DeleteDisk,
  type DiskImportSession,
  type DiskEnginePort,
  type DiskResult,
  type ExportResult,
  type ExportVmdk,
  type Fork,
  type ForkResult,
  type FreezeDisk,
  type FullClone,
  type ImportDiskStream,
  type ImportImage,
  type Inventory,
  type LinkedClone,
  type Materialise,
  type OpenLive,
  type OperationOptions,
  type OperationResult,
  type QuarantineEntry,
  type ReadRange,
  type RestoreQuarantined,
  type RevertDisk,
  type SnapshotDisk,
  type SnapshotResult,
  type StageExport,
  type StagedExport,
} from '../port';
import * as blockIo from './block-io';
import { type CheckReport } from './check';
import { DatastoreChecks } from './datastore-checks';
import {
  type DegradedDatastore,
  type InaccessibleDatastore,
  type QemuDiskEngineConfig,
  type StartReport,
} from './engine-config';
import { type EngineContext, datastorePaths } from './engine-context';
import { LiveExports } from './live-exports';
import { inaccessibleBecause, openDatastore } from './open-datastore';
import { type Datastore, OperationRunner } from './operation-runner';
import { OverlayFactory } from './overlays';
import { Owners } from './owners';
import * as plans from './plans';
import { SpaceAccounting } from './space-accounting';

export type {
  DatastoreConfig,
  DegradedDatastore,
  InaccessibleDatastore,
  QemuDiskEngineConfig,
  StartReport,
} from './engine-config';
export { probeDatastore } from './open-datastore';

export class QemuDiskEngine implements DiskEnginePort {
  private readonly runner: OperationRunner;
  private readonly exports: LiveExports;
  private readonly overlays: OverlayFactory;
  private readonly checks: DatastoreChecks;
  private readonly ctx: EngineContext;

  private constructor(
    config: QemuDiskEngineConfig,
    datastores: Map<string, Datastore>,
    graph: LayerGraph,
    records: OperationRecord[],
    private readonly owners: Owners,
  ) {
    const now = config.now ?? (() => new Date().toISOString());
    const newLayerId = config.newLayerId ?? randomUUID;
    this.overlays = new OverlayFactory(owners.self.ownerId);
    const runner: OperationRunner = new OperationRunner(datastores, graph, records, {
      owners,
      now,
      datastoreOf: (kind, command) => datastoreOfCommand(runner.graph, kind, command),
      // Called once operations run, never while constructing: `space` is made just below.
      onChanged: (datastoreId) => space.stale(datastoreId),
      onFinished: (record, how) =>
        config.onRecovered?.({
          datastoreId: record.datastoreId,
          kind: 'unfinished-operation',
          subject: record.operationId,
          action: how,
          detail: { kind: record.kind, owner: record.owner },
        }),
      onTiming: config.onTiming,
    });
    const paths = datastorePaths(runner);
    const space = new SpaceAccounting(runner, paths);
    const exports = new LiveExports(
      {
        runtimeDir: config.runtimeDir,
        nbd: config.nbd,
        tls: config.tls,
        daemonTuning: config.daemonTuning,
        restartDaemon: config.restartDaemon,
        workerId: config.workerId ?? defaultWorkerId(config.runtimeDir),
        roots: new Map([...datastores.values()].map((d) => [d.datastoreId, d.root])),
      },
      runner,
      paths.pathOf,
    );
    this.runner = runner;
    this.exports = exports;
    this.ctx = {
      ...paths,
      config,
      runner,
      exports,
      live: exports.live,
      space,
      overlays: this.overlays,
      owners,
      maxChainDepth: config.maxChainDepth ?? DEFAULT_MAX_CHAIN_DEPTH,
      now,
      decisionContext: () => ({ now: now(), nextLayerId: newLayerId }),
    };
    this.checks = new DatastoreChecks(this.ctx);
  }

  /**
   * Loads every datastore, takes this engine's owner lock in each (other workers may share them),
   * stops a daemon left by a killed worker, checks, starts the daemon.
   */
  static async start(
    config: QemuDiskEngineConfig,
  ): Promise<{ engine: QemuDiskEngine; report: StartReport }> {
    const datastores = new Map<string, Datastore>();
    const graphs: LayerGraph[] = [];
    const records: OperationRecord[] = [];
    const owners = Owners.create(randomUUID(), (config.now ?? (() => new Date().toISOString()))());
    // Whatever was opened is let go again if the start fails: the owner lock above all.
    const closeAll = async () => {
      await owners.release();
      for (const ds of datastores.values()) await ds.store.close();
    };
    const inaccessible: InaccessibleDatastore[] = [];
    try {
      // Each datastore is opened on its own: one that cannot be is left out, with its reason.
      for (const ds of config.datastores) {
        assertValidId('datastore', ds.datastoreId);
        let store: DatastoreStore | undefined;
        try {
          const opened = await openDatastore(ds, owners, config.lockTimeoutMs);
          store = opened.store;
          await owners.hold(ds.path);
          await owners.forgetGone(ds.path);
          datastores.set(ds.datastoreId, {
            datastoreId: ds.datastoreId,
            root: ds.path,
            capacityBytes: ds.capacityBytes,
            store,
          });
          graphs.push(opened.loaded.graph);
          records.push(...opened.loaded.records.values());
        } catch (error) {
          await store?.close().catch(() => undefined);
          inaccessible.push(inaccessibleBecause(ds.datastoreId, error));
        }
      }
      const engine = new QemuDiskEngine(config, datastores, mergeGraphs(graphs), records, owners);
      const report = await engine.boot();
      return { engine, report: { ...report, inaccessible } };
    } catch (error) {
      await closeAll().catch(() => undefined);
      throw error;
    }
  }

  get daemonPid(): number | undefined {
    return this.exports.daemon.pid;
  }

  /** Nodes open in the daemon, read-only shards included. */
  liveNodeCount(): number {
    return this.exports.live.nodeCount();
  }

  private async boot(): Promise<Omit<StartReport, 'inaccessible'>> {
    const specs = await this.exports.takeOver();
    // Images that were open for writing when the worker stopped: where a crash leaves leaks.
    // A disk's export may have moved up since it was recorded (live snapshot): both count.
    const suspects = new Set<string>();
    for (const spec of specs.filter((s) => s.writable)) {
      suspects.add(spec.layerId);
      const disk =
        'diskId' in spec.target ? this.runner.graph.disks[spec.target.diskId] : undefined;
      if (disk) suspects.add(disk.topLayerId);
    }
    const check = await this.checks.checkAll({
      repair: true,
      deep: false,
      suspects,
      imageTimeoutMs: this.ctx.config.checkImageTimeoutMs,
    });
    const reopenedExports = await this.exports.start(specs);
    return { check, reopenedExports };
  }

  /**
   * Stops after the operations under way end (abort their signals to hurry them): until then
   * this engine owns them, and no other worker may finish them in its place. A datastore whose
   * folder has gone meanwhile does not keep the engine from stopping (the worker restarts it
   * without that datastore): what cannot be written there is left, the rest is released.
   */
  async stop(): Promise<void> {
    this.exports.beginStop();
    try {
      await this.runner.drain();
      await this.exports.stop();
    } finally {
      // The spares are this engine's temporary files: whatever failed above, they go.
      await this.overlays.close().catch(() => undefined);
    }
    await this.runner.checkpointAll();
    await this.owners.release();
    for (const ds of this.runner.datastores.values()) await ds.store.close().catch(() => undefined);
  }

  // ---------------------------------------------------------------- operations (plans/)

  createDisk(command: CreateDisk, options?: OperationOptions): Promise<DiskResult> {
    return plans.createDisk(this.ctx, command, options);
  }

  snapshot(command: SnapshotDisk, options?: OperationOptions): Promise<SnapshotResult> {
    return plans.snapshot(this.ctx, command, options);
  }

  revert(command: RevertDisk): Promise<DiskResult> {
    return plans.revert(this.ctx, command);
  }

  freeze(command: FreezeDisk): Promise<OperationResult> {
    return plans.freeze(this.ctx, command);
  }

  linkedClone(command: LinkedClone, options?: OperationOptions): Promise<DiskResult> {
    return plans.linkedClone(this.ctx, command, options);
  }

  fullClone(command: FullClone, options?: OperationOptions): Promise<DiskResult> {
    return plans.fullClone(this.ctx, command, options);
  }

  consolidate(command: Consolidate, options?: OperationOptions): Promise<OperationResult> {
    return plans.consolidate(this.ctx, command, options);
  }

  materialise(command: Materialise, options?: OperationOptions): Promise<OperationResult> {
    return plans.materialise(this.ctx, command, options);
  }

  deleteDisk(command: DeleteDisk): Promise<OperationResult> {
    return plans.deleteDisk(this.ctx, command);
  }

  fork(command: Fork): Promise<ForkResult> {
    return plans.fork(this.ctx, command);
  }

  importImage(command: ImportImage, options?: OperationOptions): Promise<DiskResult> {
    return plans.importImage(this.ctx, command, options);
  }

  exportVmdk(command: ExportVmdk, options?: OperationOptions): Promise<ExportResult> {
    return plans.exportVmdk(this.ctx, command, options);
  }

  beginDiskImport(
    command: ImportDiskStream,
    options?: OperationOptions,
  ): Promise<DiskImportSession> {
    return plans.beginDiskImport(this.ctx, command, options);
  }

  stageExport(command: StageExport, options?: OperationOptions): Promise<StagedExport> {
    return plans.stageExport(this.ctx, command, options);
  }

  restoreQuarantined(
    command: RestoreQuarantined,
    options?: OperationOptions,
  ): Promise<OperationResult> {
    return plans.restoreQuarantined(this.ctx, command, options);
  }

  // ---------------------------------------------------------------- live exports

  openLive(command: OpenLive): Promise<LiveExport> {
    return this.exports.openLive(command);
  }

  closeLive(command: CloseLive): Promise<void> {
    return this.exports.closeLive(command);
  }

  /** Called after the daemon died and was restarted, with the exports brought back. */
  onDaemonRestart(listener: (reopened: LiveExport[]) => void): () => void {
    return this.exports.onDaemonRestart(listener);
  }

  // ---------------------------------------------------------------- block I/O, queries

  read(range: ReadRange): Promise<Buffer> {
    return blockIo.read(this.ctx, range);
  }

  write(command: { diskId: string; offsetBytes: number; data: Uint8Array }): Promise<void> {
    return blockIo.write(this.ctx, command);
  }

  blockMap(query: {
    target: LayerRef;
    offsetBytes?: number;
    lengthBytes?: number;
  }): Promise<BlockMap> {
    return blockIo.blockMap(this.ctx, query);
  }

  async space(datastoreId: string): Promise<DatastoreSpace> {
    this.runner.refreshAll();
    return this.ctx.space.full(datastoreId);
  }

  /** The graph as the datastores' logs say now (what other workers committed included). */
  inventory(): Inventory {
    this.runner.refreshAll();
    return {
      disks: Object.values(this.runner.graph.disks),
      layers: Object.values(this.runner.graph.layers),
      exports: this.exports.live.allExports(),
    };
  }

  // ---------------------------------------------------------------- check

  check(command: CheckDatastores): Promise<CheckReport> {
    return this.checks.check(command);
  }

  /** The served datastores whose last check could not judge every layer. */
  degraded(): DegradedDatastore[] {
    return this.checks.degraded();
  }

  quarantined(datastoreId: string): Promise<QuarantineEntry[]> {
    return this.checks.quarantined(datastoreId);
  }
}

/**
 * The datastore whose log a command goes to, from the command alone (the lock of that datastore
 * is taken before deciding): where it creates, else what it reads or changes.
 */
function datastoreOfCommand(
  graph: LayerGraph,
  kind: string,
  command: Record<string, unknown>,
): string {
  // A linked clone stands on its source; its datastoreId only has to agree (the decision says).
  if (typeof command.datastoreId === 'string' && kind !== 'linkedClone') return command.datastoreId;
  const ref = (command.target ?? command.source) as LayerRef | undefined;
  if (ref) return resolveLayer(graph, ref).datastoreId;
  const sources = command.sources as Fork['sources'] | undefined;
  return getDisk(graph, String(sources?.[0]?.diskId ?? command.diskId)).datastoreId;
}

/** A worker's name for its record of exports: its host and daemon folder, shared by no other. */
function defaultWorkerId(runtimeDir: string): string {
  const digest = createHash('sha256').update(`${hostname()}:${runtimeDir}`).digest('hex');
  return digest.slice(0, 16);
}
