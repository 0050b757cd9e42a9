import { createHash, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { type DollyConfig } from '@dolly/config';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  type DiskDataPlane,
  gatherFolderFacts,
  prepareStorageDaemon,
  startDiskDataPlane,
} from '@dolly/disk-engine';
import { type ErrorReason, servingReasons, workerDecider, workerGroup } from '@dolly/domain';
import { PostgresEventStore, handleAcross, workerSlot } from '@dolly/event-store';
import { DOLLY_CONFIG, HealthRegistry, PG_POOL } from '@dolly/platform';
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
  name: string;
  folder: string;
  capacity_bytes: string;
}

/** A registered datastore this worker will not touch, and why. */
export interface RefusedDatastore {
  datastoreId: string;
  name: string;
  folder: string;
  reasons: ErrorReason[];
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The worker's disks: which registered datastores it serves (their folder is inside its datastore
 * roots), the disk engine over them, and the announcement that tells placement which jobs it can
 * take. A datastore registered later is picked up by the next scan: the engine restarts over the
 * new set (its daemon brings running VMs' exports back). Before it touches a folder it checks
 * what the API checked at registration, again, where the folder is: a registration it should never
 * have been given leaves the folder untouched and is reported (health, logs).
 */
@Injectable()
export class DataPlaneService implements OnModuleInit, OnApplicationShutdown {
  private plane: DiskDataPlane | undefined;
  private served: ServedDatastores | undefined;
  private refused: RefusedDatastore[] = [];
  private readonly store: PostgresEventStore;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    @Inject(WORKER_SETTINGS) readonly settings: WorkerSettings,
    private readonly health: HealthRegistry,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('data-plane');
    this.store = new PostgresEventStore(pool, { maxEventBytes: config.eventMaxBytes });
    this.health.register('disk-engine', async () =>
      this.plane
        ? {
            status: 'up',
            details: {
              datastores: this.served?.datastoreIds.length ?? 0,
              group: this.served?.group,
              startupCheck: this.plane.report.check,
              refused: this.refused,
            },
          }
        : {
            status: 'down',
            details: { error: 'no datastore reachable yet', refused: this.refused },
          },
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

  /**
   * Looks at the registered datastores: the set this worker may serve when it differs from the one
   * served, else null. A folder still to be made is made (it is inside a root); one that is not
   * where it may be, or holds anything but its datastore, is refused and left untouched.
   */
  async scan(): Promise<ReachableDatastore[] | null> {
    const { rows } = await this.pool.query<ReachableDatastore>(
      `SELECT datastore_id::text, name, state->>'folder' AS folder, capacity_bytes::text FROM read_model.datastores ORDER BY datastore_id`,
    );
    const { datastoreFilter } = this.settings;
    const wanted = rows.filter((row) =>
      datastoreFilter ? datastoreFilter.includes(row.datastore_id) : true,
    );
    const reached: ReachableDatastore[] = [];
    const refused: RefusedDatastore[] = [];
    for (const row of wanted) {
      const others = rows
        .filter((other) => other.datastore_id !== row.datastore_id)
        .map((other) => ({
          datastoreId: other.datastore_id,
          name: other.name,
          folder: other.folder,
        }));
      const check = async () => {
        const facts = await gatherFolderFacts(row.folder, this.config.datastoreRoots);
        return {
          facts,
          reasons: servingReasons({ ...facts, datastoreId: row.datastore_id }, others),
        };
      };
      let { facts, reasons } = await check();
      if (reasons.length === 0 && facts.contents.kind === 'absent') {
        await mkdir(row.folder, { recursive: true, mode: 0o750 });
        // Made through whatever the path is now: it must still be where it may be.
        ({ facts, reasons } = await check());
      }
      if (reasons.length === 0) reached.push(row);
      else
        refused.push({
          datastoreId: row.datastore_id,
          name: row.name,
          folder: row.folder,
          reasons,
        });
    }
    this.noteRefused(refused);
    const ids = reached.map((row) => row.datastore_id);
    if (this.served && this.served.datastoreIds.join() === ids.join()) return null;
    if (ids.length === 0) return null;
    return reached;
  }

  /** Says once (not at every scan) which datastores this worker will not touch, and why. */
  private noteRefused(refused: RefusedDatastore[]): void {
    const key = (list: RefusedDatastore[]) => JSON.stringify(list);
    if (key(refused) !== key(this.refused))
      for (const datastore of refused)
        this.logger.error(
          {
            datastoreId: datastore.datastoreId,
            folder: datastore.folder,
            reasons: datastore.reasons,
          },
          `datastore ${datastore.name} is not served: its folder is not one this worker may touch`,
        );
    this.refused = refused;
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
