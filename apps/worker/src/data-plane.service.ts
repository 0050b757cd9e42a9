import { createHash, randomUUID } from 'node:crypto';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { type DiskDataPlane, prepareStorageDaemon, startDiskDataPlane } from '@dolly/disk-engine';
import { workerDecider, workerGroup } from '@dolly/domain';
import { PostgresEventStore, handleAcross, workerSlot } from '@dolly/event-store';
import { HealthRegistry, PG_POOL } from '@dolly/platform';
import { PinoLogger } from 'nestjs-pino';
import type { Pool } from 'pg';
import { type WorkerSettings } from './worker-settings';

export const WORKER_SETTINGS = Symbol('WORKER_SETTINGS');

export interface ServedDatastores {
  group: string;
  datastoreIds: string[];
}

interface ReachableDatastore {
  datastore_id: string;
  folder: string;
  capacity_bytes: string;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

function reachable(folder: string): boolean {
  try {
    accessSync(folder, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The worker's disks: which registered datastores it reaches (their folder is here), the disk
 * engine over them, and the announcement that tells placement which jobs it can take. A datastore
 * registered later is picked up by the next scan: the engine restarts over the new set (its
 * daemon brings running VMs' exports back).
 */
@Injectable()
export class DataPlaneService implements OnModuleInit, OnApplicationShutdown {
  private plane: DiskDataPlane | undefined;
  private served: ServedDatastores | undefined;
  private readonly store: PostgresEventStore;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(WORKER_SETTINGS) readonly settings: WorkerSettings,
    private readonly health: HealthRegistry,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('data-plane');
    this.store = new PostgresEventStore(pool);
    this.health.register('disk-engine', async () =>
      this.plane
        ? {
            status: 'up',
            details: {
              datastores: this.served?.datastoreIds.length ?? 0,
              group: this.served?.group,
              startupCheck: this.plane.report.check,
            },
          }
        : { status: 'down', details: { error: 'no datastore reachable yet' } },
    );
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

  /** Looks at the registered datastores: the reachable set when it differs from the one served, else null. */
  async scan(): Promise<ReachableDatastore[] | null> {
    const { rows } = await this.pool.query<ReachableDatastore>(
      `SELECT datastore_id::text, state->>'folder' AS folder, capacity_bytes::text FROM read_model.datastores ORDER BY datastore_id`,
    );
    const { datastoreFilter } = this.settings;
    const wanted = rows.filter((row) =>
      datastoreFilter ? datastoreFilter.includes(row.datastore_id) : true,
    );
    const { datastoreRoot } = this.settings;
    for (const row of wanted) {
      // A datastore named for this worker, or under its datastore root, gets its folder made;
      // any other folder must be here already (a worker makes no folder it was not told to).
      const underRoot =
        datastoreRoot !== null && resolve(row.folder).startsWith(`${datastoreRoot}${sep}`);
      if (datastoreFilter || underRoot) mkdirSync(row.folder, { recursive: true });
    }
    const reached = wanted.filter((row) => reachable(row.folder));
    const ids = reached.map((row) => row.datastore_id);
    if (this.served && this.served.datastoreIds.join() === ids.join()) return null;
    if (ids.length === 0) return null;
    return reached;
  }

  /** Restarts the engine on a new datastore set and announces it; no job may be using the engine. */
  async serve(reached: ReachableDatastore[]): Promise<void> {
    const ids = reached.map((row) => row.datastore_id);
    await this.plane?.stop();
    this.plane = await startDiskDataPlane({
      datastores: reached.map((row) => ({
        datastoreId: row.datastore_id,
        path: row.folder,
        capacityBytes: Number(row.capacity_bytes),
      })),
      runtimeDir: this.settings.runtimeDir,
      nbd: this.settings.nbd,
      tls: this.settings.tls,
      workerId: this.settings.workerId,
    });
    const { check, reopenedExports } = this.plane.report;
    this.logger.info(
      { datastores: ids, check, reopenedExports: reopenedExports.length },
      'disk engine started',
    );
    this.served = { group: workerGroup(ids, digest), datastoreIds: ids };
    await this.announce(this.served);
  }

  private async announce(served: ServedDatastores): Promise<void> {
    const { workerId } = this.settings;
    await handleAcross(this.store, {
      slots: {
        worker: workerSlot(workerId),
      },
      decide: (s) => ({
        worker: workerDecider.decide(
          {
            type: 'AnnounceWorker',
            data: { workerId, group: served.group, datastoreIds: served.datastoreIds },
          },
          s.worker,
          undefined,
        ),
      }),
      metadata: {
        correlationId: randomUUID(),
        causationId: null,
        actor: { id: workerId, role: 'worker' },
        taskId: null,
        command: 'AnnounceWorker',
      },
      now: new Date().toISOString(),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.plane?.stop();
  }
}
