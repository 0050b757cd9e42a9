/**
 * What every phase of the instant-clone benchmark stands on: the stack and its host, workers each
 * serving a datastore of their own, golden images and running parents, forks and the files they
 * make, pools, and the bare overlay pairs they are compared with.
 */
import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type DollyStack } from '@dolly/testing';
import {
  allocatedBytes,
  images,
  layerFile,
  qemuImgInfo,
  qemuIo,
  reads,
} from '../../test/support/disks';
import {
  type Accepted,
  GiB,
  MiB,
  registerDatastore,
  registerHost,
  vmDefinition,
} from '../../test/support/inventory';
import { type Pool } from '../../test/support/pools';
import { type Vm } from '../../test/support/vms';
import { bareOverlay } from '../bare-qemu';
import { BenchWorker } from '../bench-workers';
import { underLoad } from '../host-load';
import { round } from '../support';
import { Bench, loadSummary, now, sleep } from '../timed-commands';
import {
  type Bases,
  type CloneFiles,
  type Datastore,
  type Golden,
  type LoadSummary,
  type Parent,
  type Site,
  type Teardown,
  cpuSplit,
  forked,
} from './measures';
import { DISK_PATTERN, IMAGES, type ImageSize, MEMORY_PATTERN, POOL_TIMEOUT_MS } from './settings';

/** Writes `bytes` of a pattern from offset 0 through an NBD export, 64 MiB per request. */
async function fill(uri: string, pattern: number, bytes: number): Promise<void> {
  const chunk = Math.min(bytes, 64 * MiB);
  const writes = Array.from(
    { length: bytes / chunk },
    (_, i) => `write -P ${pattern} ${i * chunk} ${chunk}`,
  );
  await qemuIo(uri, ...writes);
}

export type ForkTask = Awaited<ReturnType<Lab['forkTasks']>>[number];

export class Lab {
  readonly bench: Bench;
  /**
   * What Dolly's processes cost doing nothing, CPU ms a second, as last measured (each phase
   * measures it on its own workers): set apart from the CPU a run's clones cost.
   */
  idleCpuMsPerSecond = 0;
  private bareCount = 0;

  private constructor(
    readonly stack: DollyStack,
    private readonly workers: BenchWorker[],
    readonly hostId: string,
    bench: Bench,
  ) {
    this.bench = bench;
  }

  static async open(stack: DollyStack, workers: BenchWorker[]): Promise<Lab> {
    const bench = new Bench(stack);
    return new Lab(stack, workers, await registerHost(stack), bench);
  }

  /** A new datastore and a worker serving only it. */
  async site(instance: string): Promise<Site> {
    const folder = this.stack.datastoreFolder();
    // Every clone promises its disk's capacity (thin, overcommit × 1): room for thousands.
    const capacityBytes = 64 * 1024 * GiB;
    const datastoreId = await registerDatastore(this.stack, { folder, capacityBytes });
    const worker = await BenchWorker.start(this.stack, instance, [datastoreId]);
    this.workers.push(worker);
    return { worker, datastore: { datastoreId, folder } };
  }

  /** Stops a phase's worker: its daemon, and the clones running in it, stop too. */
  async retire(...sites: Site[]): Promise<void> {
    for (const { worker } of sites) {
      this.workers.splice(this.workers.indexOf(worker), 1);
      await worker.stop();
    }
  }

  async streamLength(type: string, id: string): Promise<number> {
    return Number(
      (
        await this.stack.database.pool.query<{ count: string }>(
          'SELECT count(*) FROM event_store.events WHERE stream_id = $1',
          [`${type}-${id}`],
        )
      ).rows[0].count,
    );
  }

  async pool(poolId: string): Promise<Pool | null> {
    const answer = await this.stack.request<Pool>('GET', `/pools/${poolId}`);
    if (answer.status === 404) return null;
    if (answer.status !== 200)
      throw new Error(`GET /pools/${poolId}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  /**
   * Polls a pool until `test` holds (or the timeout), noting when each machine was first seen
   * ready: the read model's view, to the polling interval (100 ms, to spare the API's CPU).
   */
  async watchPool(poolId: string, test: (p: Pool) => boolean, timeoutMs = POOL_TIMEOUT_MS) {
    const readyAt = new Map<string, number>();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = await this.pool(poolId);
      const at = now();
      for (const m of seen?.machines ?? [])
        if (m.status === 'ready' && !readyAt.has(m.vmId)) readyAt.set(m.vmId, at);
      if (seen && test(seen)) return { pool: seen, doneAt: at, readyAt, timedOut: false };
      if (Date.now() > deadline) return { pool: seen, doneAt: at, readyAt, timedOut: true };
      await sleep(100);
    }
  }

  async createPool(golden: Golden, settings: Record<string, unknown>) {
    const sent = now();
    const answer = await this.bench.send<Accepted>('POST', '/pools', {
      hostId: this.hostId,
      datastoreId: golden.datastore.datastoreId,
      goldenVmId: golden.vmId,
      snapshotId: golden.snapshotId,
      ...settings,
    });
    if (answer.status !== 201 && answer.status !== 202)
      throw new Error(`POST /pools: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
    const poolId = answer.body.target.id;
    const built = await this.watchPool(poolId, (p) => p.imageStatus !== 'building');
    if (built.pool?.imageStatus !== 'published')
      throw new Error(`pool ${poolId}: image ${built.pool?.imageStatus ?? 'gone'}`);
    return { poolId, sentAt: sent, imageBuiltMs: round(built.doneAt - sent), pool: built.pool };
  }

  poolSettings(name: string, maxMachines: number, spareMachines: number) {
    return {
      name,
      namingPattern: `${name}-{n:fixed=3}`,
      maxMachines,
      spareMachines,
      provisioning: 'on-demand',
      assignment: 'floating',
    };
  }

  /** Deletes a pool and waits until it is gone: its machines, parent, replica and template. */
  async deletePool(poolId: string): Promise<Teardown> {
    const sent = now();
    const answer = await this.bench.send('DELETE', `/pools/${poolId}`, undefined, {});
    if (answer.status !== 202)
      throw new Error(
        `DELETE /pools/${poolId}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`,
      );
    const deadline = Date.now() + POOL_TIMEOUT_MS;
    let last = await this.pool(poolId);
    while (last !== null && Date.now() < deadline) {
      await sleep(200);
      last = await this.pool(poolId);
    }
    return {
      gone: last === null,
      ms: round(now() - sent),
      ...(last ? { countsWhenGivenUp: last.counts, lifecycle: last.lifecycle } : {}),
    };
  }

  /** The worker holding a running VM (its read model may trail its pool's: it is waited for). */
  async liveOn(vmId: string) {
    for (let i = 0; i < 100; i++) {
      const vm = await this.bench.vm(vmId);
      if (vm.live) return vm.live.workerId;
      await sleep(100);
    }
    return null;
  }

  /**
   * Measures what Dolly's processes cost doing nothing (consumers polling, heartbeats, scans), CPU
   * ms a second over 3 s, and keeps it as `idleCpuMsPerSecond`.
   */
  async measureIdleCpu(): Promise<number> {
    const idle = await underLoad(null, () => sleep(3000));
    this.idleCpuMsPerSecond = round(cpuSplit(loadSummary(idle.load)).dolly / 3);
    return this.idleCpuMsPerSecond;
  }

  /** CPU ms per clone of a run, and the same without what the stack costs idle meanwhile. */
  cpuPerClone(load: LoadSummary, wallMs: number, clones: number) {
    const dolly = cpuSplit(load).dolly;
    return {
      dollyCpuMsPerClone: round(dolly / Math.max(1, clones)),
      dollyCpuMsPerCloneBeyondIdle: round(
        (dolly - (this.idleCpuMsPerSecond * wallMs) / 1000) / Math.max(1, clones),
      ),
      idleDollyCpuMsPerSecond: this.idleCpuMsPerSecond,
    };
  }

  /** The fork tasks of a pool, in the order they were queued, from their events. */
  async forkTasks(poolId: string) {
    const { rows } = await this.stack.database.pool.query<{
      queued: number;
      started: number | null;
      succeeded: number | null;
      failed: boolean;
      worker: string | null;
    }>(
      `SELECT extract(epoch FROM q.recorded_at) * 1000 AS queued,
                (SELECT extract(epoch FROM recorded_at) * 1000 FROM event_store.events
                  WHERE stream_id = q.stream_id AND type = 'TaskStarted'
                  ORDER BY stream_version LIMIT 1) AS started,
                (SELECT extract(epoch FROM recorded_at) * 1000 FROM event_store.events
                  WHERE stream_id = q.stream_id AND type = 'TaskSucceeded' LIMIT 1) AS succeeded,
                EXISTS (SELECT 1 FROM event_store.events WHERE stream_id = q.stream_id
                  AND type IN ('TaskFailed', 'TaskCancelled')) AS failed,
                (SELECT data->>'workerId' FROM event_store.events
                  WHERE stream_id = q.stream_id AND type = 'TaskStarted'
                  ORDER BY stream_version DESC LIMIT 1) AS worker
           FROM event_store.events q
          WHERE q.type = 'TaskQueued' AND q.data->'job'->>'kind' = 'fork'
            AND q.data->'job'->>'poolId' = $1
          ORDER BY q.global_position`,
      [poolId],
    );
    return rows.map((r) => ({
      queued: Number(r.queued),
      started: r.started === null ? null : Number(r.started),
      succeeded: r.succeeded === null ? null : Number(r.succeeded),
      failed: r.failed,
      worker: r.worker,
    }));
  }

  /** A golden image: a VM with one thin disk holding the data, powered off, snapshotted. */
  async goldenOf(size: ImageSize, where: Datastore, name: string): Promise<Golden> {
    const image = IMAGES[size];
    const definition = vmDefinition(this.hostId, where.datastoreId, `golden-${name}`, [
      { capacityBytes: image.capacityBytes, format: 'thin' },
    ]);
    definition.hardware.memoryBytes = image.memoryBytes;
    const golden = await this.bench.command('POST', '/vms', definition);
    const on = await this.bench.command('POST', `/vms/${golden.vmId}/power-on`);
    await fill(on.vm!.live!.exports[0].uri, DISK_PATTERN, image.dataBytes);
    await this.bench.command('POST', `/vms/${golden.vmId}/power-off`);
    const snapped = await this.bench.command('POST', `/vms/${golden.vmId}/snapshots`, {
      name: 'v1',
    });
    const snapshotId = snapped.vm!.currentSnapshotId!;
    return { size, vmId: golden.vmId, snapshotId, datastore: where };
  }

  /** A parent as a pool makes one: a linked clone of the snapshot, running, memory written. */
  async parentOf(golden: Golden, name: string): Promise<Parent> {
    const parent = await this.bench.command('POST', `/vms/${golden.vmId}/clone`, {
      name: `parent-${name}`,
      linked: true,
      snapshotId: golden.snapshotId,
    });
    const running = await this.bench.command('POST', `/vms/${parent.vmId}/power-on`);
    await fill(running.vm!.live!.memoryImage.uri, MEMORY_PATTERN, IMAGES[golden.size].memoryBytes);
    return { vmId: parent.vmId, golden };
  }

  fork(parent: Parent, name: string) {
    return this.bench.command('POST', `/vms/${parent.vmId}/instant-clone`, { name }, forked);
  }

  /** A fork and the files it made (the folder listed before and after; not timed). */
  async forkWithFiles(parent: Parent, name: string) {
    const folder = parent.golden.datastore.folder;
    const before = new Set(images(folder));
    const done = await this.fork(parent, name);
    const diskFile = layerFile(folder, done.layerId!);
    const added = images(folder)
      .filter((n) => !before.has(n))
      .map((n) => join(folder, n));
    const others = added.filter((f) => f !== diskFile);
    const memoryFile = others.length === 1 ? others[0] : null;
    const files: CloneFiles = {
      diskFile,
      memoryFile,
      otherNewFiles: Math.max(0, others.length - 1),
      diskAllocatedBytes: allocatedBytes(diskFile),
      memoryAllocatedBytes: memoryFile ? allocatedBytes(memoryFile) : NaN,
      diskApparentBytes: statSync(diskFile).size,
      memoryApparentBytes: memoryFile ? statSync(memoryFile).size : NaN,
    };
    return { done, files };
  }

  /** Whether a clone's exports serve the parent's data (disk and memory), over NBD. */
  async servesParent(vm: Vm) {
    return (
      (await reads(vm.live!.exports[0].uri, DISK_PATTERN, 0, MiB)) &&
      (await reads(vm.live!.memoryImage.uri, MEMORY_PATTERN, 0, MiB))
    );
  }

  async basesOf(files: CloneFiles): Promise<Bases> {
    return {
      disk: (await qemuImgInfo(files.diskFile))['backing-filename']!,
      memory: (await qemuImgInfo(files.memoryFile!))['backing-filename']!,
    };
  }

  /** The overlays a fork makes, by hand: disk and memory at once, each created and synced. */
  async barePair(folder: string, bases: Bases) {
    const k = this.bareCount++;
    const names = [`bare-ic-${k}-disk.qcow2`, `bare-ic-${k}-memory.qcow2`];
    const start = performance.now();
    const [disk, memory] = await Promise.all([
      bareOverlay(folder, bases.disk, names[0]),
      bareOverlay(folder, bases.memory, names[1]),
    ]);
    const wallMs = performance.now() - start;
    const bytes = names.map((n) => allocatedBytes(join(folder, n)));
    await Promise.all(names.map((n) => rm(join(folder, n))));
    return { wallMs, disk, memory, allocatedBytes: bytes[0] + bytes[1] };
  }
}

export const succeededTasks = (tasks: ForkTask[]) =>
  tasks.filter(
    (t): t is ForkTask & { started: number; succeeded: number } =>
      t.succeeded !== null && t.started !== null,
  );
