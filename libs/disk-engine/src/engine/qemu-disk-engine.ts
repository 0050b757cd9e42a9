/**
 * The QEMU driver of the disk engine port: qemu-img for offline work, one qemu-storage-daemon
 * (over QMP) for disks in use, the pure model for every decision, and the operation log for
 * idempotency and recovery. See port.ts for the contract and operation-runner.ts for how each
 * operation is logged, executed and committed.
 */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { lstat, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join } from 'node:path';
import { DiskEngineError, isDiskEngineError } from '../errors';
import {
  type BlockMap,
  compactBlockMap,
  extentsFromNbd,
  type NbdMapEntry,
} from '../model/block-map';
import { DEFAULT_MAX_CHAIN_DEPTH, nextDepthStep } from '../model/chain-depth';
import {
  type CreateDiskDecision,
  DEFAULT_CLUSTER_SIZE_BYTES,
  type DecisionContext,
  type LayerRef,
  decideConsolidate,
  decideCreateDisk,
  decideDeleteDisk,
  decideFork,
  decideFreeze,
  decideFullClone,
  decideLinkedClone,
  decideMaterialise,
  decideRevert,
  decideSnapshot,
  resolveLayer,
} from '../model/decide';
import { type DiskEngineEvent, type LayerCreated, type LayerReclaimed } from '../model/events';
import {
  type Layer,
  type LayerGraph,
  type ProvisioningFormat,
  chainDepth,
  chainOf,
  getDisk,
  getLayer,
  layersOfDatastore,
  mergeGraphs,
} from '../model/layer-graph';
import { assertValidId, temporaryFileName } from '../model/names';
import { metadataPaths } from '../store/datastore-store';
import { type OperationRecord } from '../model/operation-log';
import {
  type DatastoreSpace,
  assertRoomFor,
  datastoreSpace,
  freeBytes,
  reachCounts,
} from '../model/space';
import {
  type DaemonTuning,
  DEFAULT_TUNING,
  LiveGraph,
  type LiveExport,
  type LiveLayer,
  nbdUri,
} from '../daemon/live-graph';
import { type NbdListen, StorageDaemon, type TlsConfig } from '../daemon/storage-daemon';
import { NbdClient } from '../nbd/nbd-client';
import * as qemuImg from '../qemu/qemu-img';
import { run } from '../qemu/process';
import { claimDatastoreFolder } from '../store/datastore-folder';
import { DatastoreStore } from '../store/datastore-store';
import { fsyncPath, publish } from '../store/fs-atomic';
import {
  type CheckDatastores,
  type CloseLive,
  type Consolidate,
  type CreateDisk,
  type DeleteDisk,
  type DiskEnginePort,
  type DiskResult,
  type ExportResult,
  type ExportVmdk,
  type Fork,
  type ForkResult,
  type FreezeDisk,
  type FullClone,
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
} from '../port';
import {
  type CheckFinding,
  type CheckHost,
  type CheckReport,
  checkDatastore,
  inspectLayer,
  quarantineEvents,
} from './check';
import { diskKey, layerKey } from './locks';
import { type ExportSpec, LiveState } from './live-state';
import {
  type Datastore,
  OperationRunner,
  type OperationTiming,
  type PlannedOperation,
} from './operation-runner';
import { inspectImport } from './import';
import { OverlayFactory } from './overlays';
import { Owners } from './owners';

export interface DatastoreConfig {
  datastoreId: string;
  /** An existing folder; the engine keeps its metadata in `.dolly/` inside it. */
  path: string;
  /** Plan space against this; default: the size of the file system holding the folder. */
  capacityBytes?: number;
}

export interface QemuDiskEngineConfig {
  datastores: DatastoreConfig[];
  /** Owner-only folder for the daemon's sockets and pid file (keep the path short: sockets). */
  runtimeDir: string;
  nbd?: NbdListen;
  tls?: TlsConfig;
  maxChainDepth?: number;
  daemonTuning?: Partial<DaemonTuning>;
  /** Restart the daemon when it dies (default true). */
  restartDaemon?: boolean;
  now?: () => string;
  newLayerId?: () => string;
  /** Called after each operation with the time each phase took. */
  onTiming?: (timing: OperationTiming) => void;
  /**
   * Names this worker's record of its exports (`.dolly/live.<workerId>.json`), so that a restart
   * brings back its own; default: the host name and runtimeDir, which no two daemons share.
   */
  workerId?: string;
  /** How long an operation waits for another worker's section of a datastore (default 10 s). */
  lockTimeoutMs?: number;
  /** How long check lets one qemu-img run take before it counts as no answer (default 120 s). */
  checkImageTimeoutMs?: number;
  /**
   * Called when this engine finished an operation another worker left cut short (that worker
   * gone): rolled forward or back, as check would at a start.
   */
  onRecovered?: (finding: CheckFinding) => void;
}

export interface StartReport {
  check: CheckReport;
  reopenedExports: LiveExport[];
  /** Datastores whose folder could not be opened: left out, the engine serves the others. */
  inaccessible: InaccessibleDatastore[];
}

/** A datastore the engine could not open, and why (vSphere: an inaccessible datastore). */
export interface InaccessibleDatastore {
  datastoreId: string;
  /** A stable code: DISK.NOT_FOUND, DISK.DATASTORE_FOREIGN, DISK.DATASTORE_NOT_EMPTY, DISK.IO... */
  code: string;
  reason: string;
}

/** A datastore served, but whose last check could not judge some layers (they are left as they are). */
export interface DegradedDatastore {
  datastoreId: string;
  reason: string;
  /** The layers (or operations cut short) qemu-img gave no answer on: left as they are. */
  subjects: string[];
}

/** Allocated bytes per layer of a datastore, as last measured. */
interface Usage {
  at: number;
  allocated: Record<string, number>;
  usedBytes: number;
  refreshing?: Promise<unknown>;
}

/** How long a datastore's measured usage may be reused for small allocations (overlays). */
const USAGE_MAX_AGE_MS = 1000;
/** What an empty overlay costs at most: one qcow2 header, L1 and refcount tables. */
const OVERLAY_BYTES = 1024 * 1024;

const layerExportName = (layerId: string) => `layer.${layerId}`;

export class QemuDiskEngine implements DiskEnginePort {
  private readonly runner: OperationRunner;
  private readonly daemon: StorageDaemon;
  private live: LiveGraph;
  private readonly overlays: OverlayFactory;
  private readonly clients = new Map<string, Promise<NbdClient>>();
  private readonly usage = new Map<string, Usage>();
  private readonly maxChainDepth: number;
  private readonly newLayerId: () => string;
  private readonly now: () => string;
  private stopping = false;
  private temporaryExports = 0;
  private readonly restartListeners = new Set<(reopened: LiveExport[]) => void>();
  private readonly liveState: LiveState;
  private readonly degradedBy = new Map<string, DegradedDatastore>();

  private constructor(
    private readonly config: QemuDiskEngineConfig,
    datastores: Map<string, Datastore>,
    graph: LayerGraph,
    records: OperationRecord[],
    private readonly owners: Owners,
  ) {
    this.now = config.now ?? (() => new Date().toISOString());
    this.newLayerId = config.newLayerId ?? randomUUID;
    this.maxChainDepth = config.maxChainDepth ?? DEFAULT_MAX_CHAIN_DEPTH;
    this.overlays = new OverlayFactory(owners.self.ownerId);
    this.runner = new OperationRunner(datastores, graph, records, {
      owners,
      now: this.now,
      datastoreOf: (kind, command) => this.datastoreOfCommand(kind, command),
      onChanged: (datastoreId) => this.staleUsage(datastoreId),
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
    this.daemon = new StorageDaemon({
      runtimeDir: config.runtimeDir,
      nbd: config.nbd,
      tls: config.tls,
    });
    this.live = new LiveGraph(this.daemon, { ...DEFAULT_TUNING, ...config.daemonTuning });
    this.liveState = new LiveState(
      new Map([...datastores.values()].map((d) => [d.datastoreId, d.root])),
      config.workerId ?? defaultWorkerId(config.runtimeDir),
    );
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
    return this.daemon.pid;
  }

  /** Nodes open in the daemon, read-only shards included. */
  liveNodeCount(): number {
    return this.live.nodeCount();
  }

  private async boot(): Promise<Omit<StartReport, 'inaccessible'>> {
    await this.daemon.stopLeftover();
    const specs = await this.liveState.load();
    // Images that were open for writing when the worker stopped: where a crash leaves leaks.
    // A disk's export may have moved up since it was recorded (live snapshot): both count.
    const suspects = new Set<string>();
    for (const spec of specs.filter((s) => s.writable)) {
      suspects.add(spec.layerId);
      const disk =
        'diskId' in spec.target ? this.runner.graph.disks[spec.target.diskId] : undefined;
      if (disk) suspects.add(disk.topLayerId);
    }
    const check = await this.checkAll({
      repair: true,
      deep: false,
      suspects,
      imageTimeoutMs: this.config.checkImageTimeoutMs,
    });
    await this.daemon.start();
    this.daemon.onExit(() => void this.onDaemonExit());
    const reopenedExports = await this.reopenExports(specs);
    return { check, reopenedExports };
  }

  /**
   * Stops after the operations under way end (abort their signals to hurry them): until then
   * this engine owns them, and no other worker may finish them in its place. A datastore whose
   * folder has gone meanwhile does not keep the engine from stopping (the worker restarts it
   * without that datastore): what cannot be written there is left, the rest is released.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.runner.drain();
    for (const client of this.clients.values())
      await client.then((c) => c.close()).catch(() => undefined);
    this.clients.clear();
    await this.daemon.stop();
    await this.liveState.flush().catch(() => undefined);
    await this.overlays.close().catch(() => undefined);
    await this.runner.checkpointAll();
    await this.owners.release();
    for (const ds of this.runner.datastores.values()) await ds.store.close().catch(() => undefined);
  }

  // ---------------------------------------------------------------- helpers

  private ctx(): DecisionContext {
    return { now: this.now(), nextLayerId: this.newLayerId };
  }

  private rootOf(datastoreId: string): string {
    return this.runner.datastore(datastoreId).root;
  }

  private pathOf(layer: Layer): string {
    return join(this.rootOf(layer.datastoreId), layer.fileName);
  }

  private temporaryPath(datastoreId: string, fileName: string, operationId: string): string {
    return join(this.rootOf(datastoreId), temporaryFileName(fileName, operationId));
  }

  private liveLayer(layer: Layer, path = this.pathOf(layer)): LiveLayer {
    return {
      layerId: layer.layerId,
      path,
      capacityBytes: layer.capacityBytes,
      clusterSizeBytes: layer.clusterSizeBytes,
    };
  }

  private progress(options: OperationOptions | undefined, operationId: string, phase: string) {
    const onProgress = options?.onProgress;
    return onProgress
      ? (doneBytes: number, totalBytes: number) =>
          onProgress({ operationId, phase, doneBytes, totalBytes })
      : undefined;
  }

  private ioProgress(
    options: OperationOptions | undefined,
    operationId: string,
    phase: string,
    counter: 'rchar' | 'wchar',
    totalBytes: number,
  ) {
    const onProgress = this.progress(options, operationId, phase);
    return onProgress ? { counter, totalBytes, onProgress } : undefined;
  }

  private assertDaemon(): void {
    if (this.daemon.state !== 'running') {
      throw new DiskEngineError(
        'DISK.DAEMON_UNAVAILABLE',
        `qemu-storage-daemon is ${this.daemon.state}`,
      );
    }
  }

  /** Allocated bytes per layer of a datastore, measured at most USAGE_MAX_AGE_MS ago unless `fresh`. */
  private async measureUsage(datastoreId: string, fresh: boolean): Promise<Usage> {
    const cached = this.usage.get(datastoreId);
    if (!fresh && cached) {
      // Small allocations (overlays) plan against the last measure and refresh it on the side:
      // measuring stats every layer, which must not be paid on every linked clone.
      if (Date.now() - cached.at > USAGE_MAX_AGE_MS && !cached.refreshing) {
        cached.refreshing = this.statLayers(datastoreId).finally(
          () => (cached.refreshing = undefined),
        );
      }
      return cached;
    }
    return this.statLayers(datastoreId);
  }

  private async statLayers(datastoreId: string): Promise<Usage> {
    const allocated: Record<string, number> = {};
    let usedBytes = 0;
    for (const layer of layersOfDatastore(this.runner.graph, datastoreId)) {
      allocated[layer.layerId] = await qemuImg.allocatedBytes(this.pathOf(layer)).catch(() => 0);
      usedBytes += allocated[layer.layerId];
    }
    const usage: Usage = { at: Date.now(), allocated, usedBytes };
    this.usage.set(datastoreId, usage);
    return usage;
  }

  /** The next measure of this datastore must look again (files were added or grew). */
  private staleUsage(datastoreId: string): void {
    const cached = this.usage.get(datastoreId);
    if (cached) cached.at = 0;
  }

  private async fileSystemFreeBytes(
    datastoreId: string,
  ): Promise<{ totalBytes: number; freeBytes: number }> {
    const s = await statfs(this.rootOf(datastoreId));
    return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  }

  private async fullSpace(datastoreId: string): Promise<DatastoreSpace> {
    const ds = this.runner.datastore(datastoreId);
    const { allocated } = await this.measureUsage(datastoreId, true);
    const fs = await this.fileSystemFreeBytes(datastoreId);
    return datastoreSpace(
      this.runner.graph,
      {
        datastoreId,
        capacityBytes: ds.capacityBytes ?? fs.totalBytes,
        fileSystemFreeBytes: fs.freeBytes,
      },
      allocated,
      this.runner.reservedBytes(datastoreId),
    );
  }

  /**
   * Measures what `assertRoomFor` needs (fresh, or the last measure for small allocations); the
   * check itself runs when deciding, against the reservations of that moment.
   */
  private async spaceProbe(datastoreId: string, fresh: boolean) {
    const ds = this.runner.datastore(datastoreId);
    const { usedBytes } = await this.measureUsage(datastoreId, fresh);
    const fs = await this.fileSystemFreeBytes(datastoreId);
    return () => ({
      datastoreId,
      freeBytes: freeBytes({
        capacityBytes: ds.capacityBytes ?? fs.totalBytes,
        usedBytes,
        reservedBytes: this.runner.reservedBytes(datastoreId),
        fileSystemFreeBytes: fs.freeBytes,
      }),
    });
  }

  private isLive = (layerId: string) => this.live.isOpen(layerId);

  /**
   * The datastore whose log a command goes to, from the command alone (the lock of that datastore
   * is taken before deciding): where it creates, else what it reads or changes.
   */
  private datastoreOfCommand(kind: string, command: Record<string, unknown>): string {
    const graph = this.runner.graph;
    // A linked clone stands on its source; its datastoreId only has to agree (the decision says).
    if (typeof command.datastoreId === 'string' && kind !== 'linkedClone')
      return command.datastoreId;
    const ref = (command.target ?? command.source) as LayerRef | undefined;
    if (ref) return resolveLayer(graph, ref).datastoreId;
    const sources = command.sources as Fork['sources'] | undefined;
    return getDisk(graph, String(sources?.[0]?.diskId ?? command.diskId)).datastoreId;
  }

  // ---------------------------------------------------------------- create

  async createDisk(command: CreateDisk, options?: OperationOptions): Promise<DiskResult> {
    const { operationId } = command;
    const clusterSizeBytes = command.clusterSizeBytes ?? DEFAULT_CLUSTER_SIZE_BYTES;
    return this.runner.run(
      'createDisk',
      command,
      async () => {
        const space = await this.spaceProbe(command.datastoreId, true);
        const measured = await qemuImg
          .measure(
            { format: command.format, clusterSizeBytes },
            { capacityBytes: command.capacityBytes },
          )
          .catch(() => undefined); // bad sizes are refused by the decision with a stable code
        return { space, measured };
      },
      (graph, { space, measured }) =>
        this.standaloneDiskPlan(
          graph,
          operationId,
          standaloneDecision(command, command.capacityBytes, clusterSizeBytes),
          measured,
          space,
          (temporary, layer) =>
            qemuImg.create({
              file: temporary,
              capacityBytes: layer.capacityBytes,
              clusterSizeBytes,
              format: command.format,
              signal: options?.signal,
              ioProgress:
                command.format === 'thick-eager-zeroed'
                  ? this.ioProgress(options, operationId, 'zero', 'wchar', layer.capacityBytes)
                  : undefined,
            }),
        ),
    );
  }

  /**
   * A new standalone disk (created or imported): decided, checked against the room the datastore
   * has for what `qemu-img measure` says it needs, and written by `write` under a temporary name.
   */
  private standaloneDiskPlan(
    graph: LayerGraph,
    operationId: string,
    decision: CreateDiskDecision,
    measured: qemuImg.Measurement | undefined,
    space: () => { datastoreId: string; freeBytes: number },
    write: (temporary: string, layer: Layer) => Promise<void>,
  ): PlannedOperation<DiskResult> {
    const events = decideCreateDisk(graph, decision, this.ctx());
    const layer = (events[0] as LayerCreated).data;
    const measuredBytes =
      decision.format === 'thin' ? measured?.requiredBytes : measured?.fullyAllocatedBytes;
    const requiredBytes = measuredBytes ?? 0;
    assertRoomFor(space(), requiredBytes);
    const temporary = this.temporaryPath(layer.datastoreId, layer.fileName, operationId);
    return this.newDiskPlan(operationId, events, layer, temporary, requiredBytes, () =>
      write(temporary, layer),
    );
  }

  /** A plan for any operation that writes one new standalone or overlay image and a disk on it. */
  private newDiskPlan(
    operationId: string,
    events: DiskEngineEvent[],
    layer: Layer,
    temporary: string,
    reserveBytes: number,
    write: () => Promise<void>,
    extra: { shared?: string[]; policyEvents?: DiskEngineEvent[] } = {},
  ): PlannedOperation<DiskResult> {
    const disk = events.find((e) => e.type === 'DiskCreated');
    const diskId = disk?.type === 'DiskCreated' ? disk.data.diskId : '';
    const final = this.pathOf(layer);
    return {
      datastoreId: layer.datastoreId,
      events,
      intent: {
        temporaryFiles: [basename(temporary)],
        publishedFiles: [layer.fileName],
        removedFiles: [],
      },
      locks: { exclusive: [diskKey(diskId), layerKey(layer.layerId)], shared: extra.shared ?? [] },
      reserveBytes,
      result: {
        operationId,
        events: [...(extra.policyEvents ?? []), ...events],
        diskId,
        datastoreId: layer.datastoreId,
        layerId: layer.layerId,
        capacityBytes: layer.capacityBytes,
        allocatedBytes: 0,
      },
      stage: write,
      execute: async () => {
        await publish(temporary, final);
        this.staleUsage(layer.datastoreId);
      },
      finish: async (result) => ({
        ...result,
        allocatedBytes: await qemuImg.allocatedBytes(final),
      }),
    };
  }

  // ---------------------------------------------------------------- snapshot, freeze

  async snapshot(command: SnapshotDisk, options?: OperationOptions): Promise<SnapshotResult> {
    const { operationId } = command;
    return this.runner.run(
      'snapshot',
      command,
      async () => {
        const top = getLayer(
          this.runner.graph,
          getDisk(this.runner.graph, command.diskId).topLayerId,
        );
        const policy = await this.applyDepthPolicy(
          operationId,
          top.layerId,
          this.maxChainDepth - 1,
          options,
        );
        if (!policy.exhausted) return policy;
        // Every layer below is shared: the top takes in its whole chain and stands alone.
        const flattened = await this.materialiseWith(
          {
            operationId: `${operationId}.flatten`,
            target: { layerId: top.layerId },
            releaseLayerId: null,
          },
          options,
          { depthBefore: chainDepth(this.runner.graph, top.layerId) + 1 },
        );
        return { events: [...policy.events, ...flattened.events], exhausted: false };
      },
      (graph, policy) => {
        const events = decideSnapshot(graph, { diskId: command.diskId }, this.ctx());
        const moved = events.find((e) => e.type === 'DiskTopMoved');
        if (moved?.type !== 'DiskTopMoved') throw new Error('snapshot decided no new top');
        const top = getLayer(graph, moved.data.previousTopLayerId);
        const delta = (events.find((e) => e.type === 'LayerCreated') as LayerCreated).data;
        const live = this.live.isOpenWritable(top.layerId);
        const temporary = this.temporaryPath(top.datastoreId, delta.fileName, operationId);
        return {
          datastoreId: top.datastoreId,
          events,
          intent: {
            temporaryFiles: [basename(temporary)],
            publishedFiles: [delta.fileName],
            removedFiles: [],
            // Once the delta is in place, writes may land in it: a crash then rolls forward.
            completedWhen: { fileName: delta.fileName, backingFileName: top.fileName },
          },
          locks: {
            exclusive: [diskKey(command.diskId), layerKey(top.layerId), layerKey(delta.layerId)],
            shared: [],
          },
          reserveBytes: OVERLAY_BYTES,
          result: {
            operationId,
            events: [...policy.events, ...events],
            diskId: command.diskId,
            frozenLayerId: top.layerId,
            topLayerId: delta.layerId,
            live,
          },
          execute: async () => {
            await this.overlays.write(this.rootOf(top.datastoreId), top, temporary);
            await publish(temporary, this.pathOf(delta));
            if (live) {
              this.assertDaemon();
              await this.flushLive(top.layerId);
              await this.live.snapshot(top.layerId, this.liveLayer(delta));
            }
          },
        };
      },
    );
  }

  async revert(command: RevertDisk): Promise<DiskResult> {
    const { operationId } = command;
    return this.runner.run(
      'revert',
      command,
      async () => undefined,
      (graph) => {
        const disk = getDisk(graph, command.diskId);
        if (this.live.isOpen(disk.topLayerId)) {
          throw new DiskEngineError(
            'DISK.IN_USE',
            `disk ${command.diskId} is open; close it before reverting`,
            { diskId: command.diskId },
          );
        }
        const events = decideRevert(graph, command, this.ctx());
        const delta = (events.find((e) => e.type === 'LayerCreated') as LayerCreated).data;
        const base = getLayer(graph, command.layerId);
        const reclaimed = events
          .filter((e): e is LayerReclaimed => e.type === 'LayerReclaimed')
          .map((e) => e.data);
        const temporary = this.temporaryPath(delta.datastoreId, delta.fileName, operationId);
        const plan = this.newDiskPlan(operationId, events, delta, temporary, OVERLAY_BYTES, () =>
          this.overlays.write(this.rootOf(base.datastoreId), base, temporary),
        );
        return {
          ...plan,
          intent: { ...plan.intent, removedFiles: reclaimed.map((r) => r.fileName) },
          locks: {
            exclusive: [
              diskKey(disk.diskId),
              layerKey(delta.layerId),
              ...reclaimed.map((r) => layerKey(r.layerId)),
            ],
            shared: [layerKey(base.layerId)],
          },
          result: { ...plan.result, diskId: disk.diskId },
          afterCommit: () => this.removeReclaimed(disk.datastoreId, reclaimed),
        };
      },
    );
  }

  async freeze(command: FreezeDisk): Promise<OperationResult> {
    const { operationId } = command;
    return this.runner.run(
      'freeze',
      command,
      async () => undefined,
      (graph) => {
        const events = decideFreeze(graph, { diskId: command.diskId });
        const top = getLayer(graph, getDisk(graph, command.diskId).topLayerId);
        if (this.live.isOpenWritable(top.layerId)) {
          throw new DiskEngineError(
            'DISK.IN_USE',
            `disk ${command.diskId} is open for writing; close it first`,
            {
              diskId: command.diskId,
            },
          );
        }
        return {
          datastoreId: top.datastoreId,
          events,
          intent: { temporaryFiles: [], publishedFiles: [], removedFiles: [] },
          locks: { exclusive: [diskKey(command.diskId), layerKey(top.layerId)], shared: [] },
          result: { operationId, events },
        };
      },
    );
  }

  // ---------------------------------------------------------------- clones

  async linkedClone(command: LinkedClone, options?: OperationOptions): Promise<DiskResult> {
    const { operationId } = command;
    return this.runner.run(
      'linkedClone',
      command,
      async () => {
        const source = resolveLayer(this.runner.graph, command.source);
        const policy = await this.applyDepthPolicy(
          operationId,
          source.layerId,
          this.maxChainDepth - 1,
          options,
        );
        const space = await this.spaceProbe(source.datastoreId, false);
        // Still too deep (every layer below is shared): the clone is made flat, by a full copy.
        const flatten = policy.exhausted
          ? await this.fullCloneProbe({
              ...command,
              datastoreId: source.datastoreId,
              format: 'thin',
            })
          : undefined;
        return { policy, space, flatten };
      },
      (graph, { policy, space, flatten }) => {
        if (flatten) {
          // Refused for the same reasons as a linked clone, although it is made as a full copy.
          decideLinkedClone(graph, command, { now: this.now(), nextLayerId: () => 'unused' });
          const source = resolveLayer(graph, command.source);
          const depthBefore = chainDepth(graph, source.layerId) + 1;
          return this.fullClonePlan(
            graph,
            { ...command, datastoreId: source.datastoreId, format: 'thin' },
            flatten,
            options,
            [
              ...policy.events,
              this.policyEvent(source.datastoreId, source.layerId, 'flattened', depthBefore, 1),
            ],
          );
        }
        const events = decideLinkedClone(graph, command, this.ctx());
        const overlay = (events[0] as LayerCreated).data;
        const base = getLayer(graph, overlay.backingLayerId!);
        assertRoomFor(space(), OVERLAY_BYTES);
        const temporary = this.temporaryPath(overlay.datastoreId, overlay.fileName, operationId);
        return this.newDiskPlan(
          operationId,
          events,
          overlay,
          temporary,
          OVERLAY_BYTES,
          () => this.overlays.write(this.rootOf(base.datastoreId), base, temporary),
          { shared: [layerKey(base.layerId)], policyEvents: policy.events },
        );
      },
    );
  }

  async fullClone(command: FullClone, options?: OperationOptions): Promise<DiskResult> {
    return this.runner.run(
      'fullClone',
      command,
      () => this.fullCloneProbe(command),
      (graph, probe) => this.fullClonePlan(graph, command, probe, options, []),
    );
  }

  private async fullCloneProbe(command: Pick<FullClone, 'source' | 'datastoreId' | 'format'>) {
    const graph = this.runner.graph;
    const source = resolveLayer(graph, command.source);
    const live = this.live.isOpenWritable(source.layerId);
    const format = command.format === 'same' ? undefined : command.format;
    const measured = await qemuImg
      .measure(
        { format: format ?? 'thin', clusterSizeBytes: source.clusterSizeBytes },
        {
          file: this.pathOf(source),
          format: 'qcow2',
          forceShare: this.live.isOpen(source.layerId),
        },
      )
      .catch((error: unknown) => {
        // Another worker may have removed the source meanwhile: then say so, as deciding would.
        this.runner.refreshAll();
        resolveLayer(this.runner.graph, command.source);
        throw error;
      });
    const space = await this.spaceProbe(command.datastoreId, true);
    return { live, measured, space };
  }

  private fullClonePlan(
    graph: LayerGraph,
    command: Omit<FullClone, 'format'> & { format: ProvisioningFormat | 'same' },
    probe: Awaited<ReturnType<QemuDiskEngine['fullCloneProbe']>>,
    options: OperationOptions | undefined,
    policyEvents: DiskEngineEvent[],
  ): PlannedOperation<DiskResult> {
    const { operationId } = command;
    const events = decideFullClone(graph, command, this.ctx());
    const target = (events[0] as LayerCreated).data;
    const source = resolveLayer(graph, command.source);
    const chain = chainOf(graph, source.layerId);
    const dataBytes = probe.measured.requiredBytes;
    const requiredBytes =
      target.format === 'thin'
        ? dataBytes
        : Math.max(probe.measured.fullyAllocatedBytes, dataBytes);
    assertRoomFor(probe.space(), requiredBytes);
    const temporary = this.temporaryPath(target.datastoreId, target.fileName, operationId);
    const write = async () => {
      if (probe.live) {
        this.assertDaemon();
        await this.flushLive(source.layerId);
        await this.live.backup(
          source.layerId,
          { ...this.liveLayer(target, temporary), format: target.format },
          {
            signal: options?.signal,
            onProgress: this.progress(options, operationId, 'copy'),
          },
        );
      } else {
        await qemuImg.convert({
          source: {
            file: this.pathOf(source),
            format: 'qcow2',
            forceShare: this.live.isOpen(source.layerId),
          },
          target: {
            file: temporary,
            format: 'qcow2',
            provisioning: target.format,
            clusterSizeBytes: target.clusterSizeBytes,
          },
          signal: options?.signal,
          ioProgress: this.ioProgress(options, operationId, 'copy', 'rchar', dataBytes),
        });
      }
    };
    return this.newDiskPlan(operationId, events, target, temporary, requiredBytes, write, {
      shared: chain.map((l) => layerKey(l.layerId)),
      policyEvents,
    });
  }

  // ---------------------------------------------------------------- consolidate, materialise

  async consolidate(command: Consolidate, options?: OperationOptions): Promise<OperationResult> {
    return this.consolidateWith(command, options, undefined);
  }

  private async consolidateWith(
    command: Consolidate,
    options: OperationOptions | undefined,
    policy: { anchorLayerId: string; depthBefore: number } | undefined,
  ): Promise<OperationResult> {
    const { operationId } = command;
    return this.runner.run(
      'consolidate',
      command,
      async () => undefined,
      (graph) => {
        const merged = decideConsolidate(graph, command);
        const event = merged[0];
        if (event.type !== 'LayerMerged') throw new Error('consolidate decided no merge');
        const upper = getLayer(graph, event.data.layerId);
        const lower = getLayer(graph, event.data.mergedLayerId);
        for (const layer of [upper, lower]) {
          if (this.live.isOpen(layer.layerId)) {
            throw new DiskEngineError(
              'DISK.IN_USE',
              `layer ${layer.layerId} is open in the storage daemon`,
              {
                layerId: layer.layerId,
              },
            );
          }
        }
        const events: DiskEngineEvent[] = policy
          ? [
              ...merged,
              this.policyEvent(
                upper.datastoreId,
                policy.anchorLayerId,
                'consolidated',
                policy.depthBefore,
                policy.depthBefore - 1,
              ),
            ]
          : merged;
        const newBacking = event.data.backingLayerId
          ? getLayer(graph, event.data.backingLayerId).fileName
          : null;
        return {
          datastoreId: upper.datastoreId,
          events,
          intent: {
            temporaryFiles: [],
            publishedFiles: [],
            removedFiles: [],
            completedWhen: {
              fileName: upper.fileName,
              backingFileName: newBacking,
              absentFileName: lower.fileName,
            },
          },
          locks: { exclusive: [layerKey(upper.layerId), layerKey(lower.layerId)], shared: [] },
          result: { operationId, events },
          execute: async () => {
            try {
              await qemuImg.commit(this.pathOf(upper), {
                signal: options?.signal,
                cwd: this.rootOf(upper.datastoreId),
                ioProgress: this.ioProgress(
                  options,
                  operationId,
                  'merge',
                  'rchar',
                  await qemuImg.allocatedBytes(this.pathOf(upper)),
                ),
              });
            } catch (error) {
              // The layer below took part of the data: reads are unchanged, only clusters may leak.
              await qemuImg.check(this.pathOf(lower), { repair: 'leaks' }).catch(() => undefined);
              throw error;
            }
            // The merged image takes the upper layer's name: whatever stood on it reads the same.
            await rename(this.pathOf(lower), this.pathOf(upper));
            await fsyncPath(this.rootOf(upper.datastoreId));
            this.staleUsage(upper.datastoreId);
          },
          afterCommit: () => this.pruneTemplates(upper.datastoreId),
        };
      },
    );
  }

  async materialise(command: Materialise, options?: OperationOptions): Promise<OperationResult> {
    return this.materialiseWith(command, options, undefined);
  }

  private async materialiseWith(
    command: Materialise,
    options: OperationOptions | undefined,
    policy: { depthBefore: number } | undefined,
  ): Promise<OperationResult> {
    const { operationId } = command;
    return this.runner.run(
      'materialise',
      command,
      async () => undefined,
      (graph) => {
        const decided = decideMaterialise(graph, command);
        const layer0 = resolveLayer(graph, command.target);
        const events = policy
          ? [
              ...decided,
              this.policyEvent(
                layer0.datastoreId,
                layer0.layerId,
                'flattened',
                policy.depthBefore,
                1,
              ),
            ]
          : decided;
        const layer = resolveLayer(graph, command.target);
        const rebased = events.find((e) => e.type === 'LayerRebased');
        const reclaimed = events
          .filter((e): e is LayerReclaimed => e.type === 'LayerReclaimed')
          .map((e) => e.data);
        const base = {
          datastoreId: layer.datastoreId,
          events,
          locks: {
            exclusive: [layerKey(layer.layerId), ...reclaimed.map((r) => layerKey(r.layerId))],
            shared: [],
          },
          result: { operationId, events },
        };
        if (rebased?.type !== 'LayerRebased') {
          return { ...base, intent: { temporaryFiles: [], publishedFiles: [], removedFiles: [] } };
        }
        const newBacking = rebased.data.backingLayerId
          ? getLayer(graph, rebased.data.backingLayerId)
          : null;
        const live = this.live.isOpenWritable(layer.layerId);
        if (!live && this.live.isOpen(layer.layerId)) {
          throw new DiskEngineError(
            'DISK.IN_USE',
            `layer ${layer.layerId} is open read-only in the daemon`,
            {
              layerId: layer.layerId,
            },
          );
        }
        return {
          ...base,
          intent: {
            temporaryFiles: [],
            publishedFiles: [],
            removedFiles: reclaimed.map((r) => r.fileName),
            completedWhen: {
              fileName: layer.fileName,
              backingFileName: newBacking?.fileName ?? null,
            },
          },
          execute: async () => {
            if (live) {
              this.assertDaemon();
              await this.live.stream(
                layer.layerId,
                newBacking ? { layerId: newBacking.layerId, fileName: newBacking.fileName } : null,
                {
                  signal: options?.signal,
                  onProgress: this.progress(options, operationId, 'stream'),
                },
              );
            } else {
              await qemuImg.rebase(this.pathOf(layer), newBacking?.fileName ?? null, {
                signal: options?.signal,
                cwd: this.rootOf(layer.datastoreId),
                ioProgress: this.ioProgress(
                  options,
                  operationId,
                  'rebase',
                  'rchar',
                  layer.capacityBytes,
                ),
              });
            }
            this.staleUsage(layer.datastoreId);
          },
          afterCommit: () => this.removeReclaimed(layer.datastoreId, reclaimed),
        };
      },
    );
  }

  private policyEvent(
    datastoreId: string,
    layerId: string,
    action: 'consolidated' | 'flattened',
    depthBefore: number,
    depthAfter: number,
  ): DiskEngineEvent {
    return {
      type: 'ChainDepthPolicyApplied',
      data: {
        datastoreId,
        layerId,
        action,
        depthBefore,
        depthAfter,
        maxChainDepth: this.maxChainDepth,
      },
    };
  }

  /**
   * Brings `layerId`'s chain to `targetDepth` by consolidating pairs nobody else uses (each a
   * logged operation of its own, id derived from the caller's). Says whether that sufficed.
   */
  private async applyDepthPolicy(
    operationId: string,
    layerId: string,
    targetDepth: number,
    options: OperationOptions | undefined,
  ): Promise<{ events: DiskEngineEvent[]; exhausted: boolean }> {
    const events: DiskEngineEvent[] = [];
    for (let round = 1; ; round++) {
      const step = nextDepthStep(this.runner.graph, layerId, targetDepth, this.isLive);
      if (step.kind === 'within') return { events, exhausted: false };
      if (step.kind === 'exhausted') return { events, exhausted: true };
      const result = await this.consolidateWith(
        { operationId: `${operationId}.depth-${round}`, target: { layerId: step.layerId } },
        options,
        { anchorLayerId: layerId, depthBefore: step.depth },
      );
      events.push(...result.events);
    }
  }

  // ---------------------------------------------------------------- delete

  async deleteDisk(command: DeleteDisk): Promise<OperationResult> {
    const { operationId } = command;
    return this.runner.run(
      'deleteDisk',
      command,
      async () => undefined,
      (graph) => {
        const disk = getDisk(graph, command.diskId);
        const events = decideDeleteDisk(graph, command);
        const reclaimed = events
          .filter((e): e is LayerReclaimed => e.type === 'LayerReclaimed')
          .map((e) => e.data);
        return {
          datastoreId: disk.datastoreId,
          events,
          intent: {
            temporaryFiles: [],
            publishedFiles: [],
            removedFiles: reclaimed.map((r) => r.fileName),
          },
          locks: {
            exclusive: [diskKey(disk.diskId), ...reclaimed.map((r) => layerKey(r.layerId))],
            shared: [],
          },
          result: { operationId, events },
          execute: () => this.closeExport(command.diskId),
          afterCommit: () => this.removeReclaimed(disk.datastoreId, reclaimed),
        };
      },
    );
  }

  /** After a commit: exports of reclaimed layers close, their nodes go, then their files. */
  private async removeReclaimed(
    datastoreId: string,
    reclaimed: Array<{ layerId: string; fileName: string }>,
  ): Promise<void> {
    for (const { layerId, fileName } of reclaimed) {
      await this.closeExport(layerExportName(layerId));
      await rm(join(this.rootOf(datastoreId), fileName), { force: true });
    }
    if (reclaimed.length) {
      await fsyncPath(this.rootOf(datastoreId));
      this.staleUsage(datastoreId);
      await this.pruneTemplates(datastoreId);
    }
  }

  private async pruneTemplates(datastoreId: string): Promise<void> {
    const root = this.rootOf(datastoreId);
    await this.overlays.prune(
      root,
      () => {
        this.runner.refreshAll();
        return new Set(layersOfDatastore(this.runner.graph, datastoreId).map((l) => l.layerId));
      },
      (name) => this.owners.keepsTemporary(root, name),
    );
  }

  // ---------------------------------------------------------------- fork

  async fork(command: Fork): Promise<ForkResult> {
    const { operationId } = command;
    return this.runner.run(
      'fork',
      command,
      async () => undefined,
      (graph) => {
        this.assertDaemon();
        const events = decideFork(graph, command, this.ctx());
        const overlays = events
          .filter((e): e is LayerCreated => e.type === 'LayerCreated')
          .map((e) => e.data);
        const frozen = new Set(
          events.flatMap((e) => (e.type === 'LayerFrozen' ? [e.data.layerId] : [])),
        );
        const datastoreId = overlays[0]?.datastoreId ?? '';
        if (overlays.some((o) => o.datastoreId !== datastoreId)) {
          throw new DiskEngineError(
            'DISK.BAD_REQUEST',
            'a fork keeps all its sources on one datastore',
          );
        }
        const forks = command.sources.map((source, i) => {
          const overlay = overlays[i];
          const exportName = source.newDiskId;
          return {
            source,
            overlay,
            base: getLayer(graph, overlay.backingLayerId!),
            temporary: this.temporaryPath(datastoreId, overlay.fileName, operationId),
            export: this.plannedExport(exportName, overlay.layerId, source.newDiskId, true),
          };
        });
        const parents = forks.map((f) => f.base);
        return {
          datastoreId,
          events,
          intent: {
            temporaryFiles: forks.map((f) => basename(f.temporary)),
            publishedFiles: overlays.map((o) => o.fileName),
            removedFiles: [],
          },
          locks: {
            exclusive: [
              ...forks.map((f) => diskKey(f.source.newDiskId)),
              // Freezing changes the parent; forking an already frozen parent only reads it, so
              // forks of one parent run side by side.
              ...forks
                .filter((f) => frozen.has(f.base.layerId))
                .flatMap((f) => [layerKey(f.base.layerId), diskKey(f.source.diskId)]),
            ],
            shared: forks
              .filter((f) => !frozen.has(f.base.layerId))
              .flatMap((f) => [layerKey(f.base.layerId), diskKey(f.source.diskId)]),
          },
          reserveBytes: OVERLAY_BYTES * forks.length,
          result: {
            operationId,
            events,
            forks: forks.map((f) => ({
              sourceDiskId: f.source.diskId,
              diskId: f.source.newDiskId,
              layerId: f.overlay.layerId,
              export: f.export,
            })),
          },
          stage: async () => {
            await Promise.all(
              forks.map((f) => this.overlays.write(this.rootOf(datastoreId), f.base, f.temporary)),
            );
          },
          execute: async () => {
            // The parent stops writing where it is frozen: its writable export goes, its node turns read-only.
            for (const parent of parents.filter(
              (p) => frozen.has(p.layerId) && this.live.isOpenWritable(p.layerId),
            )) {
              for (const e of this.live.exportsOf(parent.layerId))
                await this.closeExport(e.exportName);
              await this.live.reopenReadOnly(parent.layerId);
            }
            // The overlays are on disk already (spares are synced when made): renaming makes them
            // visible to the daemon at once, and the folder sync runs while it opens them.
            for (const f of forks) await rename(f.temporary, this.pathOf(f.overlay));
            const durable = fsyncPath(this.rootOf(datastoreId));
            // Different bases, different nodes: the daemon's answers for one overlay and the
            // next overlap instead of adding up.
            const opened = await Promise.allSettled(
              forks.map((f) =>
                this.exportChain(
                  [f.overlay, ...chainOf(graph, f.base.layerId)],
                  f.export.exportName,
                  true,
                  f.source.newDiskId,
                ),
              ),
            );
            await durable;
            const failed = opened.find((o): o is PromiseRejectedResult => o.status === 'rejected');
            if (failed) {
              for (const f of forks)
                await this.live.unexport(f.export.exportName).catch(() => undefined);
              throw failed.reason;
            }
          },
          afterCommit: async () => {
            for (const f of forks) {
              const target = { diskId: f.source.newDiskId };
              this.liveState.put(datastoreId, {
                exportName: f.export.exportName,
                target,
                writable: true,
                layerId: f.overlay.layerId,
              });
            }
          },
        };
      },
    );
  }

  // ---------------------------------------------------------------- live exports

  private plannedExport(
    exportName: string,
    layerId: string,
    diskId: string | null,
    writable: boolean,
  ): LiveExport {
    const endpoint = this.daemon.endpoint;
    return {
      exportName,
      layerId,
      diskId,
      writable,
      uri: nbdUri(endpoint, exportName),
      endpoint,
    };
  }

  /** Opens a chain (top first) in the daemon, sharing nodes already open, and exports its top. */
  private async exportChain(
    chain: Layer[],
    exportName: string,
    writable: boolean,
    diskId: string | null,
  ): Promise<LiveExport> {
    const existing = this.live.allExports().find((e) => e.exportName === exportName);
    if (existing) return existing;
    const node = await this.live.open(
      chain.map((l) => this.liveLayer(l)),
      writable,
    );
    try {
      return await this.live.export(node, exportName, writable, diskId);
    } finally {
      await this.live.release(node);
    }
  }

  private resolveExport(
    graph: LayerGraph,
    target: LayerRef,
  ): { layer: Layer; exportName: string; writable: boolean; diskId: string | null } {
    if ('diskId' in target) {
      const disk = getDisk(graph, target.diskId);
      const layer = getLayer(graph, disk.topLayerId);
      return { layer, exportName: disk.diskId, writable: !layer.frozen, diskId: disk.diskId };
    }
    const layer = getLayer(graph, target.layerId);
    return { layer, exportName: layerExportName(layer.layerId), writable: false, diskId: null };
  }

  async openLive(command: OpenLive): Promise<LiveExport> {
    assertValidId('operation', command.operationId);
    this.assertDaemon();
    this.runner.refreshAll();
    const graph = this.runner.graph;
    const { layer, exportName, writable, diskId } = this.resolveExport(graph, command.target);
    const chain = chainOf(graph, layer.layerId);
    const quarantined = chain.find((l) => l.quarantined);
    if (quarantined) {
      throw new DiskEngineError('DISK.QUARANTINED', `layer ${quarantined.layerId} is quarantined`, {
        layerId: quarantined.layerId,
      });
    }
    const live = await this.exportChain(chain, exportName, writable, diskId);
    this.liveState.put(layer.datastoreId, {
      exportName,
      target: command.target,
      writable,
      layerId: layer.layerId,
    });
    return live;
  }

  async closeLive(command: CloseLive): Promise<void> {
    assertValidId('operation', command.operationId);
    const { exportName } = this.resolveExport(this.runner.graph, command.target);
    if (!this.live.allExports().some((e) => e.exportName === exportName)) {
      throw new DiskEngineError('DISK.NOT_LIVE', `${exportName} is not exported`, { exportName });
    }
    await this.closeExport(exportName);
  }

  private async closeExport(exportName: string): Promise<void> {
    const client = this.clients.get(exportName);
    this.clients.delete(exportName);
    await client?.then((c) => c.close()).catch(() => undefined);
    if (this.live.allExports().some((e) => e.exportName === exportName)) {
      this.assertDaemon();
      await this.live.unexport(exportName);
    }
    this.liveState.remove(exportName);
  }

  private async reopenExports(specs: ExportSpec[]): Promise<LiveExport[]> {
    const reopened: LiveExport[] = [];
    for (const spec of specs) {
      try {
        const graph = this.runner.graph;
        const { layer, exportName, writable, diskId } = this.resolveExport(graph, spec.target);
        const chain = chainOf(graph, layer.layerId);
        if (chain.some((l) => l.quarantined)) throw new Error('quarantined');
        reopened.push(await this.exportChain(chain, exportName, writable, diskId));
      } catch {
        // Gone or broken since: forget it, so that it is not tried at every start.
        this.liveState.remove(spec.exportName);
      }
    }
    return reopened;
  }

  /** Called after the daemon died and was restarted, with the exports brought back. */
  onDaemonRestart(listener: (reopened: LiveExport[]) => void): () => void {
    this.restartListeners.add(listener);
    return () => this.restartListeners.delete(listener);
  }

  private async onDaemonExit(): Promise<void> {
    this.live.reset();
    this.clients.clear();
    if (this.stopping || this.config.restartDaemon === false) return;
    try {
      await this.daemon.start();
      const reopened = await this.reopenExports(this.liveState.all());
      for (const listener of this.restartListeners) listener(reopened);
    } catch {
      // Operations report DISK.DAEMON_UNAVAILABLE until the next start succeeds.
    }
  }

  // ---------------------------------------------------------------- import, export

  async importImage(command: ImportImage, options?: OperationOptions): Promise<DiskResult> {
    const { operationId } = command;
    const clusterSizeBytes = DEFAULT_CLUSTER_SIZE_BYTES;
    return this.runner.run(
      'importImage',
      command,
      async () => {
        const source = await inspectImport(command.sourcePath, command.sourceFormat);
        const measured = await qemuImg.measure(
          { format: command.format, clusterSizeBytes },
          { file: command.sourcePath, format: command.sourceFormat },
        );
        const space = await this.spaceProbe(command.datastoreId, true);
        return { source, measured, space };
      },
      (graph, { source, measured, space }) =>
        this.standaloneDiskPlan(
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
              ioProgress: this.ioProgress(
                options,
                operationId,
                'import',
                'rchar',
                source.actualSizeBytes,
              ),
            }),
        ),
    );
  }

  async exportVmdk(command: ExportVmdk, options?: OperationOptions): Promise<ExportResult> {
    const { operationId, targetPath } = command;
    if (!isAbsolute(targetPath) || extname(targetPath) !== '.vmdk') {
      throw new DiskEngineError(
        'DISK.BAD_NAME',
        'the export target must be an absolute path ending in .vmdk',
        { targetPath },
      );
    }
    return this.runner.run(
      'exportVmdk',
      command,
      async () => {
        await stat(dirname(targetPath)).catch(() => {
          throw new DiskEngineError('DISK.NOT_FOUND', `no folder ${dirname(targetPath)}`, {
            targetPath,
          });
        });
      },
      (graph) => {
        const source = resolveLayer(graph, command.source);
        const chain = chainOf(graph, source.layerId);
        if (this.live.isOpenWritable(source.layerId)) {
          throw new DiskEngineError(
            'DISK.IN_USE',
            'export a snapshot (frozen layer) of a disk in use',
            { layerId: source.layerId },
          );
        }
        const temporary = join(
          dirname(targetPath),
          temporaryFileName(basename(targetPath), operationId),
        );
        return {
          datastoreId: source.datastoreId,
          events: [],
          intent: { temporaryFiles: [], publishedFiles: [], removedFiles: [] },
          locks: { exclusive: [], shared: chain.map((l) => layerKey(l.layerId)) },
          result: { operationId, events: [], targetPath, sizeBytes: 0 },
          execute: async () => {
            try {
              await qemuImg.convert({
                source: {
                  file: this.pathOf(source),
                  format: 'qcow2',
                  forceShare: this.live.isOpen(source.layerId),
                },
                target: { file: temporary, format: 'vmdk', subformat: 'streamOptimized' },
                signal: options?.signal,
                ioProgress: this.ioProgress(
                  options,
                  operationId,
                  'export',
                  'rchar',
                  source.capacityBytes,
                ),
              });
              await publish(temporary, targetPath);
            } finally {
              await rm(temporary, { force: true });
            }
          },
          finish: async (result) => ({ ...result, sizeBytes: (await stat(targetPath)).size }),
        };
      },
    );
  }

  // ---------------------------------------------------------------- data plane

  private checkRange(layer: Layer, offsetBytes: number, lengthBytes: number): void {
    const ok =
      Number.isSafeInteger(offsetBytes) &&
      Number.isSafeInteger(lengthBytes) &&
      offsetBytes >= 0 &&
      lengthBytes >= 0 &&
      offsetBytes + lengthBytes <= layer.capacityBytes;
    if (!ok) {
      throw new DiskEngineError(
        'DISK.OUT_OF_RANGE',
        `range ${offsetBytes}+${lengthBytes} is outside ${layer.capacityBytes} bytes`,
        {
          offsetBytes,
          lengthBytes,
          capacityBytes: layer.capacityBytes,
        },
      );
    }
  }

  /**
   * Flushes a live layer through its export while writers keep going. A graph change drains the
   * node (every writer waits) and flushes it; flushing first leaves that drained flush almost
   * nothing to write, so the writer is held for the switch only, not for the page cache.
   */
  private async flushLive(layerId: string): Promise<void> {
    const exported = this.live.exportsOf(layerId)[0];
    if (!exported || exported.endpoint.tls) return;
    await (await this.client(exported.exportName)).flush();
  }

  private async client(exportName: string): Promise<NbdClient> {
    let client = this.clients.get(exportName);
    if (!client) {
      const endpoint = this.daemon.endpoint;
      if (endpoint.tls)
        throw new DiskEngineError(
          'DISK.BAD_REQUEST',
          'the engine reads through NBD without TLS only',
        );
      client = NbdClient.connect(
        endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : endpoint,
        exportName,
      );
      this.clients.set(exportName, client);
      client.catch(() => this.clients.delete(exportName));
    }
    return client;
  }

  /** Runs `use` against the target's export, exporting it for the time of the call if needed. */
  private async withExport<T>(
    target: LayerRef,
    writable: boolean,
    use: (client: NbdClient) => Promise<T>,
  ): Promise<T> {
    this.assertDaemon();
    const graph = this.runner.graph;
    const resolved = this.resolveExport(graph, target);
    if (this.live.allExports().some((e) => e.exportName === resolved.exportName)) {
      return use(await this.client(resolved.exportName));
    }
    const name = `tmp.${++this.temporaryExports}`;
    await this.exportChain(chainOf(graph, resolved.layer.layerId), name, writable, resolved.diskId);
    try {
      const client = await this.client(name);
      const result = await use(client);
      if (writable) await client.flush();
      return result;
    } finally {
      await this.closeExport(name);
    }
  }

  async read(range: ReadRange): Promise<Buffer> {
    this.runner.refreshAll();
    const layer = resolveLayer(this.runner.graph, range.target);
    this.checkRange(layer, range.offsetBytes, range.lengthBytes);
    return this.withExport(range.target, false, (c) =>
      c.read(range.offsetBytes, range.lengthBytes),
    );
  }

  async write(command: { diskId: string; offsetBytes: number; data: Uint8Array }): Promise<void> {
    this.runner.refreshAll();
    const graph = this.runner.graph;
    const layer = getLayer(graph, getDisk(graph, command.diskId).topLayerId);
    if (layer.frozen) {
      throw new DiskEngineError(
        'DISK.LAYER_FROZEN',
        `disk ${command.diskId} stands on a frozen top`,
        { layerId: layer.layerId },
      );
    }
    this.checkRange(layer, command.offsetBytes, command.data.length);
    await this.withExport({ diskId: command.diskId }, true, (c) =>
      c.write(command.offsetBytes, command.data),
    );
  }

  // ---------------------------------------------------------------- queries

  async blockMap(query: {
    target: LayerRef;
    offsetBytes?: number;
    lengthBytes?: number;
  }): Promise<BlockMap> {
    this.runner.refreshAll();
    const graph = this.runner.graph;
    const layer = resolveLayer(graph, query.target);
    const offset = query.offsetBytes ?? 0;
    const length = query.lengthBytes ?? layer.capacityBytes - offset;
    this.checkRange(layer, offset, length);
    const chain = chainOf(graph, layer.layerId);
    const exported = this.live.exportsOf(layer.layerId)[0];
    const raw =
      exported && this.live.isOpenWritable(layer.layerId)
        ? await this.nbdExtents(exported)
        : await qemuImg.map(this.pathOf(layer), 'qcow2', {
            forceShare: this.live.isOpen(layer.layerId),
          });
    const reach = reachCounts(graph, layer.datastoreId);
    return compactBlockMap(
      raw,
      chain.map((l) => l.layerId),
      layer.capacityBytes,
      (id) => (reach.get(id) ?? 0) >= 2,
      { offsetBytes: offset, lengthBytes: length },
    );
  }

  /** Live block status, straight from the daemon: base:allocation joined with qemu:allocation-depth. */
  private async nbdExtents(exported: LiveExport) {
    // Over TLS libnbd takes the CA (and, for verify-peer, the client pair) from the server's folder.
    const uri =
      exported.endpoint.tls && this.config.tls
        ? `${exported.uri}${exported.uri.includes('?') ? '&' : '?'}tls-certificates=${this.config.tls.certDir}`
        : exported.uri;
    const mapOf = async (context: string) =>
      JSON.parse(
        (await run('nbdinfo', [`--map=${context}`, '--json', uri])).stdout,
      ) as NbdMapEntry[];
    return extentsFromNbd(await mapOf('base:allocation'), await mapOf('qemu:allocation-depth'));
  }

  async space(datastoreId: string): Promise<DatastoreSpace> {
    this.runner.refreshAll();
    return this.fullSpace(datastoreId);
  }

  /** The graph as the datastores' logs say now (what other workers committed included). */
  inventory(): Inventory {
    this.runner.refreshAll();
    return {
      disks: Object.values(this.runner.graph.disks),
      layers: Object.values(this.runner.graph.layers),
      exports: this.live.allExports(),
    };
  }

  // ---------------------------------------------------------------- check

  async check(command: CheckDatastores): Promise<CheckReport> {
    assertValidId('operation', command.operationId);
    this.runner.refreshAll();
    return this.checkAll({
      repair: command.repair,
      deep: true,
      suspects: new Set(),
      imageTimeoutMs: this.config.checkImageTimeoutMs,
    });
  }

  private async checkAll(scope: {
    repair: boolean;
    deep: boolean;
    suspects: ReadonlySet<string>;
    imageTimeoutMs?: number;
  }): Promise<CheckReport> {
    const findings: CheckFinding[] = [];
    let imagesChecked = 0;
    const runner = this.runner;
    for (const ds of runner.datastores.values()) {
      const host: CheckHost = {
        now: this.now,
        graph: () => runner.graph,
        records: () => [...runner.records.values()],
        refresh: () => runner.refreshAll(),
        // Check reports operations cut short itself, so the section leaves them to it.
        section: (section) => runner.section(ds.datastoreId, section, false),
        takeTornTailBytes: () => ds.store.takeTornTailBytes(),
        // Check judges what was cut short: it asks the owner's lock now, not a sighting a second old.
        isRunning: (record) => runner.isRunning(record, { fresh: true }),
        isBusy: (layerId) => runner.isHeld(layerKey(layerId)),
        isOpen: (layerId) => this.live.isOpen(layerId),
        keepsTemporaryFile: (name) => this.owners.keepsTemporary(ds.root, name),
        finishCutShort: (record) => runner.finishCutShort(record),
        quarantine: (datastoreId, layerId, reason) => this.quarantine(datastoreId, layerId, reason),
      };
      const result = await checkDatastore(
        host,
        { datastoreId: ds.datastoreId, root: ds.root },
        scope,
      );
      findings.push(...result.findings);
      imagesChecked += result.imagesChecked;
      this.noteDegraded(ds.datastoreId, result.findings);
      if (scope.repair) await this.pruneTemplates(ds.datastoreId);
    }
    return { checkedAt: this.now(), imagesChecked, findings, clean: findings.length === 0 };
  }

  /**
   * A check that found layers qemu-img gave no answer on (it could not run, crashed, timed out)
   * leaves them as they are and the datastore degraded, until a check judges them all.
   */
  private noteDegraded(datastoreId: string, findings: CheckFinding[]): void {
    const unanswered = findings.filter((f) => f.kind === 'undetermined');
    if (unanswered.length === 0) {
      this.degradedBy.delete(datastoreId);
      return;
    }
    const first = unanswered[0].detail ?? {};
    const said = typeof first.message === 'string' ? `: ${first.message}` : '';
    this.degradedBy.set(datastoreId, {
      datastoreId,
      reason: `qemu-img gave no answer on ${unanswered.length} layer(s) or operation(s)${said}; they are left as they are`,
      subjects: unanswered.map((f) => f.subject),
    });
  }

  /** The served datastores whose last check could not judge every layer. */
  degraded(): DegradedDatastore[] {
    return [...this.degradedBy.values()];
  }

  async quarantined(datastoreId: string): Promise<QuarantineEntry[]> {
    assertValidId('datastore', datastoreId);
    this.runner.refreshAll();
    const root = this.rootOf(datastoreId);
    const graph = this.runner.graph;
    const size = (path: string) =>
      lstat(path).then(
        (s) => s.size,
        () => 0,
      );
    const entries: QuarantineEntry[] = [];
    for (const layer of layersOfDatastore(graph, datastoreId).filter((l) => l.quarantined))
      entries.push({
        kind: 'layer',
        entry: layer.layerId,
        fileName: layer.fileName,
        sizeBytes: await size(join(root, layer.fileName)),
        diskIds: Object.values(graph.disks)
          .filter((d) => chainOf(graph, d.topLayerId).some((l) => l.layerId === layer.layerId))
          .map((d) => d.diskId)
          .sort(),
        restorable: true,
      });
    const folder = metadataPaths(root).quarantine;
    const names = await readdir(folder).catch(() => [] as string[]);
    for (const name of names.sort())
      entries.push({
        kind: 'file',
        entry: name,
        fileName: name,
        sizeBytes: await size(join(folder, name)),
        diskIds: [],
        restorable: false,
      });
    return entries;
  }

  /**
   * A quarantined layer comes back only when it is sound now: its file a regular file (no
   * symlink), a qcow2 on the backing its graph says, passing `qemu-img check`, and nothing below
   * it quarantined (restore from the bottom up). Checked again in the operation's section.
   */
  async restoreQuarantined(
    command: RestoreQuarantined,
    options?: OperationOptions,
  ): Promise<OperationResult> {
    assertValidId('datastore', command.datastoreId);
    assertValidId('layer', command.layerId);
    const { operationId, datastoreId, layerId } = command;
    const report = this.progress(options, operationId, 'inspect');
    const quarantinedLayer = (graph: LayerGraph) => {
      const layer = graph.layers[layerId];
      if (!layer || layer.datastoreId !== datastoreId || !layer.quarantined)
        throw new DiskEngineError(
          'DISK.NOT_QUARANTINED',
          `no quarantined layer ${layerId} on datastore ${datastoreId}`,
          { datastoreId, layerId },
        );
      const below = chainOf(graph, layerId)
        .slice(1)
        .find((l) => l.quarantined);
      if (below)
        throw new DiskEngineError(
          'DISK.QUARANTINED',
          `layer ${below.layerId} below ${layerId} is quarantined: restore it first`,
          { layerId: below.layerId },
        );
      return layer;
    };
    return this.runner.run(
      'restoreQuarantined',
      command,
      async () => {
        this.runner.refreshAll();
        const graph = this.runner.graph;
        const layer = quarantinedLayer(graph);
        const path = join(this.rootOf(datastoreId), layer.fileName);
        report?.(0, 2);
        const file = await lstat(path).catch(() => undefined);
        const problem = !file
          ? { kind: 'missing-file', detail: {} }
          : !file.isFile()
            ? { kind: 'not-a-regular-file', detail: { symlink: file.isSymbolicLink() } }
            : await inspectLayer(this.rootOf(datastoreId), graph, layer, {
                repair: false,
                forceShare: true,
                timeoutMs: this.config.checkImageTimeoutMs ?? 120_000,
                signal: options?.signal,
              });
        // Cancelled while it was checked again: nothing is taken back.
        if (options?.signal?.aborted)
          throw new DiskEngineError('DISK.CANCELLED', `restore of layer ${layerId} cancelled`, {
            layerId,
          });
        if (problem && !(problem.kind === 'qcow2-leaks'))
          throw new DiskEngineError(
            'DISK.STILL_BROKEN',
            `layer ${layerId} is still not sound (${problem.kind}): it stays quarantined`,
            { layerId, problem: problem.kind, ...(problem.detail ?? {}) },
          );
        report?.(1, 2);
      },
      (graph) => {
        quarantinedLayer(graph);
        const events: DiskEngineEvent[] = [
          { type: 'LayerRestored', data: { datastoreId, layerId } },
        ];
        return {
          datastoreId,
          events,
          intent: { temporaryFiles: [], publishedFiles: [], removedFiles: [] },
          locks: { exclusive: [layerKey(layerId)], shared: [] },
          result: { operationId, events },
          afterCommit: async () => report?.(2, 2),
        };
      },
    );
  }

  /** Quarantine is an operation like any other: logged started, then committed. */
  private async quarantine(datastoreId: string, layerId: string, reason: string): Promise<void> {
    await this.runner.run(
      'quarantine',
      { operationId: `check.${randomUUID()}`, datastoreId, layerId, reason },
      async () => undefined,
      (graph) => ({
        datastoreId,
        events: quarantineEvents(graph, datastoreId, layerId, reason),
        intent: { temporaryFiles: [], publishedFiles: [], removedFiles: [] },
        locks: { exclusive: [], shared: [] },
        result: null,
      }),
    );
  }
}

/**
 * Opens one datastore as the engine does at its start: its folder claimed (an empty one
 * initialised, anything else refused untouched) and its log loaded under the log lock.
 */
async function openDatastore(ds: DatastoreConfig, owners: Owners, lockTimeoutMs?: number) {
  // Nothing is written in a folder this datastore did not initialise (check would move
  // somebody's files aside): an empty one is initialised now, anything else refused.
  await claimDatastoreFolder(ds.path, ds.datastoreId, owners.self.startedAt);
  const store = new DatastoreStore(ds.datastoreId, ds.path, lockTimeoutMs);
  const loaded = await store.load();
  return { store, loaded };
}

/**
 * Whether a datastore the engine left out can be opened now (a worker retries with this before
 * it restarts its engine to take it back): opened and closed again, nothing held.
 */
export async function probeDatastore(
  ds: DatastoreConfig,
  lockTimeoutMs?: number,
): Promise<InaccessibleDatastore | null> {
  const owners = Owners.create(randomUUID(), new Date().toISOString());
  try {
    const { store } = await openDatastore(ds, owners, lockTimeoutMs);
    await store.close();
    return null;
  } catch (error) {
    return inaccessibleBecause(ds.datastoreId, error);
  }
}

function inaccessibleBecause(datastoreId: string, error: unknown): InaccessibleDatastore {
  if (isDiskEngineError(error)) return { datastoreId, code: error.code, reason: error.message };
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  return {
    datastoreId,
    code: errno ? `DISK.IO.${errno}` : 'DISK.IO',
    reason: error instanceof Error ? error.message : String(error),
  };
}

/** What the model needs to decide a new standalone disk, from a create or an import. */
function standaloneDecision(
  command: Pick<CreateDisk, 'datastoreId' | 'diskId' | 'kind' | 'format'>,
  capacityBytes: number,
  clusterSizeBytes: number,
): CreateDiskDecision {
  const { datastoreId, diskId, format } = command;
  return {
    datastoreId,
    diskId,
    kind: command.kind ?? 'disk',
    format,
    capacityBytes,
    clusterSizeBytes,
  };
}

/** A worker's name for its record of exports: its host and daemon folder, shared by no other. */
function defaultWorkerId(runtimeDir: string): string {
  const digest = createHash('sha256').update(`${hostname()}:${runtimeDir}`).digest('hex');
  return digest.slice(0, 16);
}
