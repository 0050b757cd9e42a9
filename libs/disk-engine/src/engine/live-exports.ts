/**
 * Live exports: disks and frozen layers open in this worker's qemu-storage-daemon and exported
 * over NBD. Owns the daemon (started, restarted with the same exports when it dies, stopped), its
 * node graph, the record of exports a restart brings back (live-state.ts), and the engine's own
 * NBD clients (the engine's reads, writes and flushes go through an export).
 */
import { DiskEngineError } from '../errors';
import { type LayerRef } from '../model/decide';
import { type Layer, type LayerGraph, chainOf, getDisk, getLayer } from '../model/layer-graph';
import { assertValidId } from '../model/names';
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
import { type CloseLive, type OpenLive } from '../port';
import { type ExportSpec, LiveState } from './live-state';
import { type OperationRunner } from './operation-runner';

/** The export of a frozen layer (read-only), by the layer's id. */
export const layerExportName = (layerId: string) => `layer.${layerId}`;

export interface LiveExportsConfig {
  runtimeDir: string;
  nbd?: NbdListen;
  tls?: TlsConfig;
  daemonTuning?: Partial<DaemonTuning>;
  /** Restart the daemon when it dies (default true). */
  restartDaemon?: boolean;
  /** Names this worker's record of its exports (see QemuDiskEngineConfig.workerId). */
  workerId: string;
  /** Each served datastore's folder, where its record of exports is kept. */
  roots: ReadonlyMap<string, string>;
}

export class LiveExports {
  readonly daemon: StorageDaemon;
  /** The daemon's node graph: which layers are open, read-only or writable, and their exports. */
  readonly live: LiveGraph;
  /** What this worker exports, per datastore, for a restart to bring back. */
  readonly state: LiveState;
  private readonly clients = new Map<string, Promise<NbdClient>>();
  private readonly restartListeners = new Set<(reopened: LiveExport[]) => void>();
  private temporaryExports = 0;
  private stopping = false;

  constructor(
    private readonly config: LiveExportsConfig,
    private readonly runner: OperationRunner,
    private readonly pathOf: (layer: Layer) => string,
  ) {
    this.daemon = new StorageDaemon({
      runtimeDir: config.runtimeDir,
      nbd: config.nbd,
      tls: config.tls,
    });
    this.live = new LiveGraph(this.daemon, { ...DEFAULT_TUNING, ...config.daemonTuning });
    this.state = new LiveState(config.roots, config.workerId);
  }

  /** At a start, before check: stops a daemon left by a killed worker, reads what it exported. */
  async takeOver(): Promise<ExportSpec[]> {
    await this.daemon.stopLeftover();
    return this.state.load();
  }

  /** After check: starts the daemon (restarted when it dies) and brings `specs` back. */
  async start(specs: ExportSpec[]): Promise<LiveExport[]> {
    await this.daemon.start();
    this.daemon.onExit(() => void this.onDaemonExit());
    return this.reopenExports(specs);
  }

  /** From now on a daemon that exits stays down (the engine is stopping). */
  beginStop(): void {
    this.stopping = true;
  }

  /** Closes the engine's NBD clients, stops the daemon and writes the record of exports. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const client of this.clients.values())
      await client.then((c) => c.close()).catch(() => undefined);
    this.clients.clear();
    await this.daemon.stop();
    // A datastore whose folder has gone keeps none of its record: the engine stops all the same.
    await this.state.flush().catch(() => undefined);
  }

  assertDaemon(): void {
    if (this.daemon.state !== 'running') {
      throw new DiskEngineError(
        'DISK.DAEMON_UNAVAILABLE',
        `qemu-storage-daemon is ${this.daemon.state}`,
      );
    }
  }

  liveLayer(layer: Layer, path = this.pathOf(layer)): LiveLayer {
    return {
      layerId: layer.layerId,
      path,
      capacityBytes: layer.capacityBytes,
      clusterSizeBytes: layer.clusterSizeBytes,
    };
  }

  plannedExport(
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
  async exportChain(
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
    this.state.put(layer.datastoreId, {
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

  async closeExport(exportName: string): Promise<void> {
    const client = this.clients.get(exportName);
    this.clients.delete(exportName);
    await client?.then((c) => c.close()).catch(() => undefined);
    if (this.live.allExports().some((e) => e.exportName === exportName)) {
      this.assertDaemon();
      await this.live.unexport(exportName);
    }
    this.state.remove(exportName);
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
        this.state.remove(spec.exportName);
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
      const reopened = await this.reopenExports(this.state.all());
      for (const listener of this.restartListeners) listener(reopened);
    } catch {
      // Operations report DISK.DAEMON_UNAVAILABLE until the next start succeeds.
    }
  }

  /**
   * Flushes a live layer through its export while writers keep going. A graph change drains the
   * node (every writer waits) and flushes it; flushing first leaves that drained flush almost
   * nothing to write, so the writer is held for the switch only, not for the page cache.
   */
  async flushLive(layerId: string): Promise<void> {
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
  async withExport<T>(
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
}
