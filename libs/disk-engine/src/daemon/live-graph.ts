/**
 * What is open in the storage daemon: one qcow2 node per layer, shared by every overlay that
 * stands on it (a base is opened once, by node name, however many clones read it), and NBD
 * exports on top. Nodes are counted by their users (overlay nodes and exports) and closed when
 * the last goes. Node names are short generated ones (QEMU allows 31 characters).
 */
import { DiskEngineError } from '../errors';
import { type ProvisioningFormat } from '../model/layer-graph';
import { PREALLOCATION } from '../qemu/qemu-img';
import { qmpFailure } from '../qmp/jobs';
import {
  type BlockdevCreateOptions,
  type FileNodeOptions,
  type Qcow2NodeOptions,
} from '../qmp/qmp-commands';
import { QmpCommandError } from '../qmp/qmp-client';
import { type NbdEndpoint, type StorageDaemon } from './storage-daemon';

export interface LiveLayer {
  layerId: string;
  /** Absolute path of the image. */
  path: string;
  capacityBytes: number;
  clusterSizeBytes: number;
}

/** An NBD export of a disk (writable) or of a frozen layer (read-only). Plain JSON. */
export interface LiveExport {
  exportName: string;
  layerId: string;
  diskId: string | null;
  writable: boolean;
  /** An NBD URI that qemu-io, qemu-img, nbdinfo and nbdcopy accept as it is. */
  uri: string;
  endpoint: NbdEndpoint;
}

/** How nodes are opened in the daemon. Sized for many small overlays on a 2-core worker. */
export interface DaemonTuning {
  /** Upper bound of each node's L2 table cache; smaller images get what covers them. */
  l2CacheMaxBytes: number;
  refcountCacheBytes: number;
  /**
   * Seconds after which unused cache entries are freed; 0 (the default) never. Each node then
   * arms a timer, and QEMU 7.2 keeps timers in a sorted list: with 800 nodes open, blockdev-add
   * and block-export-add took a third longer than without. Untouched cache pages cost no memory.
   */
  cacheCleanIntervalSeconds: number;
  /**
   * QEMU refreshes a node's permissions by walking all its parents, so adding an overlay (or an
   * export) above a node costs time in proportion to the overlays already there: measured on
   * 7.2, blockdev-add on a base with 400 overlays takes about 4x what it takes on a fresh one. A
   * read-only layer is therefore opened as several nodes ("shards") of at most this many
   * parents: sharing stays (memory per overlay stays small), one more fork costs about the same
   * (800 overlays on one base: blockdev-add +30% with 8 parents per shard, +150% with 128).
   */
  maxParentsPerNode: number;
}

export const DEFAULT_TUNING: DaemonTuning = {
  l2CacheMaxBytes: 1024 * 1024,
  refcountCacheBytes: 256 * 1024,
  cacheCleanIntervalSeconds: 0,
  maxParentsPerNode: 8,
};

/** One opened node: the writable top of a disk, or one shard of a read-only layer. */
export interface OpenNode {
  layer: LiveLayer;
  nodeName: string;
  fileNodeName: string;
  readOnly: boolean;
  backing: OpenNode | null;
  /** Overlay nodes standing on this node, plus exports of it, plus callers holding it. */
  users: number;
}

interface ExportState {
  id: string;
  node: OpenNode;
  live: LiveExport;
}

async function qmpCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    throw error instanceof QmpCommandError ? qmpFailure(error) : error;
  }
}

export function nbdUri(endpoint: NbdEndpoint, exportName: string): string {
  const name = encodeURIComponent(exportName);
  if (endpoint.kind === 'unix') {
    return `${endpoint.tls ? 'nbds' : 'nbd'}+unix:///${name}?socket=${endpoint.socketPath}`;
  }
  // An IPv6 address goes in brackets (RFC 3986), as libnbd and QEMU read it.
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `${endpoint.tls ? 'nbds' : 'nbd'}://${host}:${endpoint.port}/${name}`;
}

export class LiveGraph {
  /** Per layer: its one writable node, or its read-only shards. */
  private readonly nodes = new Map<string, OpenNode[]>();
  private readonly exports = new Map<string, ExportState>();
  private counter = 0;

  constructor(
    private readonly daemon: StorageDaemon,
    private readonly tuning: DaemonTuning = DEFAULT_TUNING,
  ) {}

  /** Forget everything: the daemon that held it is gone. */
  reset(): void {
    this.nodes.clear();
    this.exports.clear();
  }

  isOpen(layerId: string): boolean {
    return (this.nodes.get(layerId)?.length ?? 0) > 0;
  }

  isOpenWritable(layerId: string): boolean {
    return this.writable(layerId) !== undefined;
  }

  private writable(layerId: string): OpenNode | undefined {
    return this.nodes.get(layerId)?.find((n) => !n.readOnly);
  }

  private required(node: OpenNode | undefined, layerId: string): OpenNode {
    if (!node)
      throw new DiskEngineError('DISK.NOT_LIVE', `layer ${layerId} is not open`, { layerId });
    return node;
  }

  exportsOf(layerId: string): LiveExport[] {
    return [...this.exports.values()]
      .filter((e) => e.node.layer.layerId === layerId)
      .map((e) => e.live);
  }

  allExports(): LiveExport[] {
    return [...this.exports.values()].map((e) => e.live);
  }

  /** Nodes open, shards included. */
  nodeCount(): number {
    return [...this.nodes.values()].reduce((total, shards) => total + shards.length, 0);
  }

  private name(prefix: string): string {
    this.counter += 1;
    return `${prefix}${this.counter.toString(36)}`;
  }

  private nodeOptions(
    layer: LiveLayer,
    nodeName: string,
    fileNodeName: string,
    readOnly: boolean,
  ): Qcow2NodeOptions {
    const cover = Math.ceil(layer.capacityBytes / layer.clusterSizeBytes) * 8;
    const l2 = Math.min(cover, this.tuning.l2CacheMaxBytes);
    return {
      driver: 'qcow2',
      'node-name': nodeName,
      'read-only': readOnly,
      discard: 'unmap',
      'l2-cache-size': Math.ceil(l2 / layer.clusterSizeBytes) * layer.clusterSizeBytes,
      'refcount-cache-size': this.tuning.refcountCacheBytes,
      ...(this.tuning.cacheCleanIntervalSeconds
        ? { 'cache-clean-interval': this.tuning.cacheCleanIntervalSeconds }
        : {}),
      file: {
        driver: 'file',
        'node-name': fileNodeName,
        filename: layer.path,
        'read-only': readOnly,
        discard: 'unmap',
      },
    };
  }

  private async addNode(
    layer: LiveLayer,
    readOnly: boolean,
    backing: OpenNode | null,
  ): Promise<OpenNode> {
    const nodeName = this.name('n');
    const fileNodeName = this.name('f');
    await qmpCall(
      this.daemon.qmp.execute('blockdev-add', {
        ...this.nodeOptions(layer, nodeName, fileNodeName, readOnly),
        backing: backing ? backing.nodeName : null,
      }),
    );
    const node: OpenNode = { layer, nodeName, fileNodeName, readOnly, backing, users: 0 };
    this.nodes.set(layer.layerId, [...(this.nodes.get(layer.layerId) ?? []), node]);
    if (backing) backing.users += 1;
    return node;
  }

  /**
   * Opens a chain (top first), reusing the nodes already open (for a read-only layer, a shard
   * with room for one more parent); only the top may be writable. The caller holds one use of
   * the returned top node until `release`.
   */
  async open(chain: readonly LiveLayer[], writableTop: boolean): Promise<OpenNode> {
    const top = chain[0];
    const existing = this.writable(top.layerId);
    if (existing) {
      existing.users += 1;
      return existing;
    }
    if (writableTop && this.isOpen(top.layerId)) {
      throw new DiskEngineError('DISK.IN_USE', `layer ${top.layerId} is open read-only`, {
        layerId: top.layerId,
      });
    }
    let below: OpenNode | null = null;
    for (let i = chain.length - 1; i >= 0; i--) {
      const layer = chain[i];
      const readOnly = i > 0 || !writableTop;
      const shard: OpenNode | undefined = readOnly
        ? this.nodes
            .get(layer.layerId)
            ?.find(
              (n) => n.readOnly && n.backing === below && n.users < this.tuning.maxParentsPerNode,
            )
        : undefined;
      below = shard ?? (await this.addNode(layer, readOnly, below));
    }
    below!.users += 1;
    return below!;
  }

  /** Gives up one use of a node; nodes nobody uses any more are closed, downwards. */
  async release(node: OpenNode | null): Promise<void> {
    while (node) {
      node.users -= 1;
      if (node.users > 0) return;
      await qmpCall(this.daemon.qmp.execute('blockdev-del', { 'node-name': node.nodeName }));
      const shards = (this.nodes.get(node.layer.layerId) ?? []).filter((n) => n !== node);
      if (shards.length) this.nodes.set(node.layer.layerId, shards);
      else this.nodes.delete(node.layer.layerId);
      node = node.backing;
    }
  }

  async export(
    node: OpenNode,
    exportName: string,
    writable: boolean,
    diskId: string | null,
  ): Promise<LiveExport> {
    const id = this.name('e');
    await qmpCall(
      this.daemon.qmp.execute('block-export-add', {
        type: 'nbd',
        id,
        'node-name': node.nodeName,
        name: exportName,
        writable,
        'allocation-depth': true,
      }),
    );
    node.users += 1;
    const endpoint = this.daemon.endpoint;
    const live: LiveExport = {
      exportName,
      layerId: node.layer.layerId,
      diskId,
      writable,
      uri: nbdUri(endpoint, exportName),
      endpoint,
    };
    this.exports.set(exportName, { id, node, live });
    return live;
  }

  /** Drops the export (clients are disconnected) and waits until QEMU says it is gone. */
  async unexport(exportName: string): Promise<void> {
    const state = this.exports.get(exportName);
    if (!state) return;
    const deleted = new Promise<void>((resolve) => {
      const off = this.daemon.qmp.on('BLOCK_EXPORT_DELETED', ({ id }) => {
        if (id !== state.id) return;
        off();
        resolve();
      });
    });
    await qmpCall(this.daemon.qmp.execute('block-export-del', { id: state.id, mode: 'hard' }));
    await deleted;
    this.exports.delete(exportName);
    await this.release(state.node);
  }

  /** Makes an open node read-only; QEMU flushes it on the way, so the file is whole on disk. */
  async reopenReadOnly(layerId: string): Promise<void> {
    const node = this.writable(layerId);
    if (!node) return;
    const options = this.nodeOptions(node.layer, node.nodeName, node.fileNodeName, true);
    await qmpCall(
      this.daemon.qmp.execute('blockdev-reopen', {
        options: [
          {
            ...options,
            file: node.fileNodeName,
            backing: node.backing ? node.backing.nodeName : null,
          },
          { ...(options.file as FileNodeOptions), 'node-name': node.fileNodeName },
        ],
      }),
    );
    node.readOnly = true;
  }

  /**
   * Live snapshot: the new (already created, empty) overlay takes the old top's place under
   * every export, and the old top becomes its backing. Writers are held only for the switch.
   */
  async snapshot(layerId: string, overlay: LiveLayer): Promise<void> {
    const node = this.required(this.writable(layerId), layerId);
    const nodeName = this.name('n');
    const fileNodeName = this.name('f');
    await qmpCall(
      this.daemon.qmp.execute('blockdev-add', {
        ...this.nodeOptions(overlay, nodeName, fileNodeName, false),
        backing: null,
      }),
    );
    await qmpCall(
      this.daemon.qmp.execute('blockdev-snapshot', { node: node.nodeName, overlay: nodeName }),
    );
    const top: OpenNode = {
      layer: overlay,
      nodeName,
      fileNodeName,
      readOnly: false,
      backing: node,
      users: node.users,
    };
    node.users = 1;
    this.nodes.set(overlay.layerId, [top]);
    for (const state of this.exports.values()) {
      if (state.node === node) {
        state.node = top;
        state.live = { ...state.live, layerId: overlay.layerId };
      }
    }
    await this.reopenReadOnly(layerId);
  }

  /**
   * Live materialise: streams into the layer everything it reads from the layers above
   * `newBacking` (null: from its whole chain), then QEMU writes the new backing string.
   */
  async stream(
    layerId: string,
    newBacking: { layerId: string; fileName: string } | null,
    options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void },
  ): Promise<void> {
    const node = this.required(this.writable(layerId), layerId);
    // The node this chain actually stands on for that layer (one of its shards).
    let below = node.backing;
    while (newBacking && below && below.layer.layerId !== newBacking.layerId) below = below.backing;
    const base = newBacking ? below : null;
    if (newBacking && !base) {
      throw new DiskEngineError(
        'DISK.NOT_LIVE',
        `layer ${newBacking.layerId} is not below ${layerId}`,
        newBacking,
      );
    }
    const jobId = this.daemon.jobs.newJobId('stream');
    await this.daemon.jobs.run(
      jobId,
      () =>
        qmpCall(
          this.daemon.qmp.execute('block-stream', {
            'job-id': jobId,
            device: node.nodeName,
            'auto-dismiss': false,
            ...(base && newBacking
              ? { 'base-node': base.nodeName, 'backing-file': newBacking.fileName }
              : {}),
          }),
        ),
      options,
    );
    const old = node.backing;
    node.backing = base;
    if (base) base.users += 1;
    await this.release(old);
  }

  /**
   * Point-in-time copy: a new image (blockdev-create) filled by a backup job with sync=full.
   * The copy is the source as it was when the job started; writes after that reach the source
   * only after their old content was copied (copy-before-write), so the source keeps running,
   * its chain untouched. The target is closed (flushed) when this resolves.
   */
  async backup(
    layerId: string,
    target: LiveLayer & { format: ProvisioningFormat },
    options: { signal?: AbortSignal; onProgress?: (done: number, total: number) => void },
  ): Promise<void> {
    const source = this.required(this.writable(layerId) ?? this.nodes.get(layerId)?.[0], layerId);
    const { qmp, jobs } = this.daemon;
    const fileNodeName = this.name('t');
    const nodeName = this.name('t');
    const create = async (options: BlockdevCreateOptions) => {
      const jobId = jobs.newJobId('create');
      await jobs.run(jobId, () =>
        qmpCall(qmp.execute('blockdev-create', { 'job-id': jobId, options })),
      );
    };
    // Zeros written to a thin copy stay unallocated; a thick copy keeps what it preallocated.
    const thin = target.format === 'thin';
    await create({ driver: 'file', filename: target.path, size: 0 });
    // Through the page cache: measured beside O_DIRECT on a copy under a QD1 writer, the
    // writer's longest waits were shorter (copy-before-write returns sooner).
    await qmpCall(
      qmp.execute('blockdev-add', {
        driver: 'file',
        'node-name': fileNodeName,
        filename: target.path,
      }),
    );
    let added = false;
    try {
      await create({
        driver: 'qcow2',
        file: fileNodeName,
        size: target.capacityBytes,
        'cluster-size': target.clusterSizeBytes,
        preallocation: PREALLOCATION[target.format],
      });
      await qmpCall(
        qmp.execute('blockdev-add', {
          driver: 'qcow2',
          'node-name': nodeName,
          file: fileNodeName,
          backing: null,
          discard: thin ? 'unmap' : 'ignore',
          'detect-zeroes': thin ? 'unmap' : 'off',
        }),
      );
      added = true;
      const jobId = jobs.newJobId('backup');
      await jobs.run(
        jobId,
        () =>
          qmpCall(
            qmp.execute('blockdev-backup', {
              'job-id': jobId,
              device: source.nodeName,
              target: nodeName,
              sync: 'full',
              'auto-dismiss': false,
            }),
          ),
        options,
      );
    } finally {
      if (added)
        await qmpCall(qmp.execute('blockdev-del', { 'node-name': nodeName })).catch(
          () => undefined,
        );
      await qmpCall(qmp.execute('blockdev-del', { 'node-name': fileNodeName })).catch(
        () => undefined,
      );
    }
  }
}
