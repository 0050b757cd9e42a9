import { createHash, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { type DollyConfig } from '@dolly/config';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  type DiskDataPlane,
  gatherFolderFacts,
  prepareStorageDaemon,
  probeDatastore,
  startDiskDataPlane,
} from '@dolly/disk-engine';
import {
  type DatastoreEvent,
  type DatastoreState,
  type ErrorReason,
  type ObserveQuarantine,
  type RegisteredDatastore,
  type ReportAccessibility,
  datastoreDecider,
  doublingPause,
  groupsStillServed,
  servingReasons,
  workerDecider,
  stream,
  workerGroup,
  workerStreamId,
} from '@dolly/domain';
import {
  type Decision,
  FoldedStreamsOfType,
  PostgresEventStore,
  decideAcross,
  onStream,
  streamState,
} from '@dolly/event-store';
import { DOLLY_CONFIG, HealthRegistry, PG_POOL } from '@dolly/platform';
import { PinoLogger } from 'nestjs-pino';
import type { Pool } from 'pg';
import { type WorkerSettings } from './worker-settings';

export const WORKER_SETTINGS = Symbol('WORKER_SETTINGS');

export interface ServedDatastores {
  group: string;
  datastoreIds: string[];
  /** Groups this worker left whose datastores it still reaches (see `groupsStillServed`). */
  earlierGroups: string[];
}

/** A registered datastore, as much of it as serving it takes. */
type ReachableDatastore = Pick<
  RegisteredDatastore,
  'datastoreId' | 'name' | 'folder' | 'capacityBytes'
>;

/** A registered datastore this worker will not touch, and why. */
export interface RefusedDatastore {
  datastoreId: string;
  name: string;
  folder: string;
  reasons: ErrorReason[];
}

/**
 * A registered datastore this worker cannot open (its folder is refused, missing, unreadable, or
 * the engine failed to open it), as vSphere shows an inaccessible datastore; tried again after
 * `retryInMs`, backing off.
 */
export interface InaccessibleDatastore {
  datastoreId: string;
  name: string;
  folder: string;
  code: string;
  reason: string;
  failures: number;
  nextAttemptAt: string;
}

interface Problem {
  code: string;
  reason: string;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The worker's disks: which registered datastores it serves (their folder is inside its datastore
 * roots; registered as their streams in the store say, not as a projector's table shows, which may
 * lag or be down), the disk engine over them, and the announcement that tells placement which jobs it can
 * take. A datastore registered later is picked up by the next scan: the engine restarts over the
 * new set (its daemon brings running VMs' exports back). Before it touches a folder it checks
 * what the API checked at registration, again, where the folder is: a registration it should never
 * have been given leaves the folder untouched and is reported (health, logs).
 */
@Injectable()
export class DataPlaneService implements OnModuleInit, OnApplicationShutdown {
  private plane: DiskDataPlane | undefined;
  private served: ServedDatastores | undefined;
  /** The last refusal of each datastore whose folder this worker will not touch. */
  private readonly refusedBy = new Map<string, RefusedDatastore>();
  private readonly inaccessible = new Map<string, InaccessibleDatastore & { retryAt: number }>();
  private readonly store: PostgresEventStore;
  /** Every datastore's stream, folded: the registered ones are those to serve. */
  private readonly datastores: FoldedStreamsOfType<DatastoreState, DatastoreEvent>;
  /** What this worker last recorded of each datastore's quarantine. */
  private readonly quarantineSeen = new Map<string, string>();

  constructor(
    @Inject(PG_POOL) pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    @Inject(WORKER_SETTINGS) readonly settings: WorkerSettings,
    private readonly health: HealthRegistry,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('data-plane');
    this.store = new PostgresEventStore(pool, { maxEventBytes: config.eventMaxBytes });
    this.datastores = new FoldedStreamsOfType(this.store, 'datastore', datastoreDecider);
    this.health.register('disk-engine', async () => {
      const inaccessible = [...this.inaccessible.values()].map(
        ({ retryAt: _retryAt, ...datastore }) => datastore,
      );
      const degraded = this.plane?.degraded() ?? [];
      if (!this.plane)
        return {
          status: 'down',
          details: {
            error: 'no datastore reachable yet',
            inaccessible,
            refused: this.refusedList(),
          },
        };
      return {
        status: inaccessible.length > 0 || degraded.length > 0 ? 'degraded' : 'up',
        details: {
          datastores: this.served?.datastoreIds.length ?? 0,
          group: this.served?.group,
          startupCheck: this.plane.report.check,
          inaccessible,
          degraded,
          refused: this.refusedList(),
        },
      };
    });
  }

  /**
   * Refuses to start on an unsafe runtime folder or NBD setting, before any job is taken: the
   * disk engine checks again before each start of its daemon.
   */
  async onModuleInit(): Promise<void> {
    const { runtimeDir, nbd, tls } = this.settings;
    await prepareStorageDaemon({ runtimeDir, nbd, tls });
    if (nbd?.kind === 'tcp' && !tls)
      this.logger.warn(
        { nbd },
        'NBD over TCP without TLS: every local user may connect to the live disks (the Unix socket is owner-only)',
      );
  }

  get engine() {
    if (!this.plane) throw new Error('The disk engine is not running: no datastore reachable');
    return this.plane.engine;
  }

  get current(): ServedDatastores | undefined {
    return this.served;
  }

  /** The registered datastores, by id, as their streams in the store say now. */
  private async registered(): Promise<ReachableDatastore[]> {
    const registered: ReachableDatastore[] = [];
    for (const state of (await this.datastores.current()).values())
      if (state.status === 'registered') {
        const { datastoreId, name, folder, capacityBytes } = state;
        registered.push({ datastoreId, name, folder, capacityBytes });
      }
    return registered.sort((a, b) => (a.datastoreId < b.datastoreId ? -1 : 1));
  }

  /**
   * Looks at the registered datastores: the set this worker may serve when it differs from the one
   * served, else null. A folder still to be made is made (it is inside a root); one that is not
   * where it may be, or holds anything but its datastore, is refused and left untouched.
   */
  async scan(): Promise<ReachableDatastore[] | null> {
    const rows = await this.registered();
    const { datastoreFilter } = this.settings;
    const wanted = rows.filter((row) =>
      datastoreFilter ? datastoreFilter.includes(row.datastoreId) : true,
    );
    const reached: ReachableDatastore[] = [];
    const stillWanted = new Set(wanted.map((row) => row.datastoreId));
    for (const id of [...this.inaccessible.keys()])
      if (!stillWanted.has(id)) this.inaccessible.delete(id);
    for (const id of [...this.refusedBy.keys()])
      if (!stillWanted.has(id)) this.refusedBy.delete(id);
    const served = new Set(this.served?.datastoreIds ?? []);
    for (const row of wanted) {
      const known = this.inaccessible.get(row.datastoreId);
      // Backing off: left as it is until its next attempt.
      if (known && Date.now() < known.retryAt) continue;
      const others = rows
        .filter((other) => other.datastoreId !== row.datastoreId)
        .map(({ datastoreId, name, folder }) => ({ datastoreId, name, folder }));
      const check = async () => {
        const facts = await gatherFolderFacts(row.folder, this.config.datastoreRoots);
        return {
          facts,
          reasons: servingReasons({ ...facts, datastoreId: row.datastoreId }, others),
        };
      };
      let { facts, reasons } = await check();
      if (reasons.length === 0 && facts.contents.kind === 'absent') {
        await mkdir(row.folder, { recursive: true, mode: 0o750 });
        // Made through whatever the path is now: it must still be where it may be.
        ({ facts, reasons } = await check());
      }
      if (reasons.length > 0) {
        this.refusedBy.set(row.datastoreId, {
          datastoreId: row.datastoreId,
          name: row.name,
          folder: row.folder,
          reasons,
        });
        await this.markInaccessible(row, {
          code: reasons[0].code,
          reason: reasons.map((r) => r.detail).join('; '),
        });
        continue;
      }
      this.refusedBy.delete(row.datastoreId);
      // One the engine does not hold yet is opened on its own first: a folder that cannot be
      // opened is not worth restarting the engine for.
      if (!served.has(row.datastoreId)) {
        const problem = await probeDatastore({
          datastoreId: row.datastoreId,
          path: row.folder,
          capacityBytes: row.capacityBytes,
        });
        if (problem) {
          await this.markInaccessible(row, problem);
          continue;
        }
      }
      reached.push(row);
    }
    const ids = reached.map((row) => row.datastoreId);
    await this.observeQuarantine(ids);
    if (this.served && this.served.datastoreIds.join() === ids.join()) {
      for (const row of reached) await this.markAccessible(row.datastoreId);
      return null;
    }
    if (ids.length === 0) return null;
    return reached;
  }

  /**
   * Marks a datastore inaccessible (an event when the reason is new, not at every retry) and
   * sets its next attempt: the pause doubles at each failure, from the minimum to the maximum.
   */
  private async markInaccessible(row: ReachableDatastore, problem: Problem): Promise<void> {
    const known = this.inaccessible.get(row.datastoreId);
    const failures = (known?.failures ?? 0) + 1;
    const { datastoreRetryMinMs: min, datastoreRetryMaxMs: max } = this.config;
    const pause = doublingPause(failures - 1, min, max);
    const retryAt = Date.now() + pause;
    const changed = !known || known.code !== problem.code || known.reason !== problem.reason;
    this.inaccessible.set(row.datastoreId, {
      datastoreId: row.datastoreId,
      name: row.name,
      folder: row.folder,
      ...problem,
      failures,
      nextAttemptAt: new Date(retryAt).toISOString(),
      retryAt,
    });
    if (changed)
      this.logger.error(
        { datastoreId: row.datastoreId, folder: row.folder, ...problem, retryInMs: pause },
        `datastore ${row.name} is inaccessible: this worker serves its other datastores and tries it again`,
      );
    await this.report(row.datastoreId, problem);
  }

  private async markAccessible(datastoreId: string): Promise<void> {
    const known = this.inaccessible.get(datastoreId);
    if (!known) return;
    await this.report(datastoreId, null);
    this.inaccessible.delete(datastoreId);
    this.logger.info(
      { datastoreId, failures: known.failures },
      `datastore ${known.name} is accessible again`,
    );
  }

  /** The datastore's stream records a change of what this worker finds (nothing if the same). */
  private report(datastoreId: string, problem: Problem | null): Promise<void> {
    const { workerId } = this.settings;
    return this.decideOnDatastore(datastoreId, {
      type: 'ReportAccessibility',
      data: {
        datastoreId,
        workerId,
        problem: problem && { ...problem, reason: problem.reason.slice(0, 4000) },
      },
    });
  }

  /** A worker's own command on a datastore's stream (the decider records only changes). */
  private async decideOnDatastore(
    datastoreId: string,
    command: ReportAccessibility | ObserveQuarantine,
  ): Promise<void> {
    await this.decideAsWorker(
      command.type,
      onStream(stream('datastore', datastoreId), (datastore) =>
        datastoreDecider.decide(command, datastore, undefined),
      ),
    );
  }

  /** A decision of this worker's own, not for a task. */
  private async decideAsWorker(command: string, decision: Decision<void>): Promise<void> {
    await decideAcross(this.store, {
      ...decision,
      metadata: {
        correlationId: randomUUID(),
        causationId: null,
        actor: { id: this.settings.workerId, role: 'worker' },
        taskId: null,
        command,
      },
      now: new Date().toISOString(),
    });
  }

  /**
   * Records what check moved aside on each served datastore when it differs from what this
   * worker last recorded (after its start, a check, a restore): the API shows it to admins. Only
   * those this scan reached: one served until now may have just become inaccessible (its folder
   * a file), and reading it would fail the whole scan, so the worker would never leave it.
   */
  private async observeQuarantine(reached: readonly string[]): Promise<void> {
    if (!this.plane || !this.served) return;
    const { workerId } = this.settings;
    const stillReached = new Set(reached);
    for (const datastoreId of this.served.datastoreIds) {
      if (!stillReached.has(datastoreId)) continue;
      const entries = (await this.plane.engine.quarantined(datastoreId)).slice(0, 1000);
      const key = JSON.stringify(entries);
      if (this.quarantineSeen.get(datastoreId) === key) continue;
      await this.decideOnDatastore(datastoreId, {
        type: 'ObserveQuarantine',
        data: { datastoreId, workerId, entries },
      });
      this.quarantineSeen.set(datastoreId, key);
    }
  }

  private refusedList(): RefusedDatastore[] {
    return [...this.refusedBy.values()];
  }

  /** Restarts the engine on a new datastore set and announces it; no job may be using the engine. */
  async serve(reached: ReachableDatastore[]): Promise<void> {
    await this.plane?.stop();
    this.plane = undefined;
    this.served = undefined;
    this.plane = await startDiskDataPlane({
      datastores: reached.map((row) => ({
        datastoreId: row.datastoreId,
        path: row.folder,
        capacityBytes: row.capacityBytes,
      })),
      runtimeDir: this.settings.runtimeDir,
      nbd: this.settings.nbd,
      tls: this.settings.tls,
      workerId: this.settings.workerId,
      checkImageTimeoutMs: this.config.checkImageTimeoutMs,
    });
    const { check, reopenedExports, inaccessible } = this.plane.report;
    // What the engine could not open (since the scan looked) it left out: the others are served.
    const left = new Set(inaccessible.map((d) => d.datastoreId));
    for (const problem of inaccessible) {
      const row = reached.find((r) => r.datastoreId === problem.datastoreId);
      if (row) await this.markInaccessible(row, problem);
    }
    const opened = reached.filter((row) => !left.has(row.datastoreId));
    const ids = opened.map((row) => row.datastoreId);
    this.logger.info(
      { datastores: ids, check, reopenedExports: reopenedExports.length },
      'disk engine started',
    );
    const group = workerGroup(ids, digest);
    await this.announce(group, ids);
    const announced = await streamState(
      this.store,
      workerDecider,
      workerStreamId(this.settings.workerId),
    );
    this.served = { group, datastoreIds: ids, earlierGroups: groupsStillServed(announced) };
    for (const row of opened) await this.markAccessible(row.datastoreId);
  }

  private async announce(group: string, datastoreIds: string[]): Promise<void> {
    const { workerId } = this.settings;
    await this.decideAsWorker(
      'AnnounceWorker',
      onStream(stream('worker', workerId), (worker) =>
        workerDecider.decide(
          { type: 'AnnounceWorker', data: { workerId, group, datastoreIds } },
          worker,
          undefined,
        ),
      ),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.plane?.stop();
  }
}
