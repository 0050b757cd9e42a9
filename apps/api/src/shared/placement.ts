import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { type DollyConfig } from '@dolly/config';
import { workerGroupId, workerOwnGroupId } from '@dolly/contracts';
import { IllegalStateError, type Placement, RuleViolationError } from '@dolly/domain';
import { DOLLY_CONFIG, KAFKA, UnavailableError } from '@dolly/platform';
import { DatastoreRow, WorkerRow } from '@dolly/read-models';
import type { Admin, Kafka } from 'kafkajs';
import { In, Repository } from 'typeorm';

/** How long a group's liveness is trusted before asking Kafka again. */
const LIVENESS_CACHE_MS = 2000;

/**
 * Chooses who does a job. Workers announce the datastores they reach; workers reaching the same
 * ones form a group, a Kafka consumer group whose live members Kafka itself knows. A job goes to
 * a live group that reaches every datastore it touches, or, when it needs a running VM's disks, to
 * the one worker whose storage daemon holds them.
 */
@Injectable()
export class PlacementService implements OnModuleDestroy {
  private readonly liveness = new Map<string, { live: boolean; at: number }>();
  /** Requests placed at the same moment share one question to Kafka per group. */
  private readonly asking = new Map<string, Promise<boolean>>();
  /** One admin connection for the API's life: connecting one per request cost ~100 ms. */
  private admin: Promise<Admin> | null = null;

  constructor(
    @InjectRepository(WorkerRow) private readonly workers: Repository<WorkerRow>,
    @InjectRepository(DatastoreRow) private readonly datastores: Repository<DatastoreRow>,
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
  ) {}

  /**
   * A job needing an inaccessible datastore is refused at once (409 DATASTORE.INACCESSIBLE, naming
   * it and why), as vSphere refuses work on one: its workers have left it, and a job placed on it
   * would wait for a group nobody serves.
   */
  async forDatastores(datastoreIds: readonly string[]): Promise<Placement> {
    const needed = [...new Set(datastoreIds)];
    const inaccessible = await this.datastores.find({
      where: { datastoreId: In(needed), accessibility: 'inaccessible' },
    });
    if (inaccessible.length > 0)
      throw new IllegalStateError(
        'DATASTORE.INACCESSIBLE',
        `Datastore ${inaccessible.map((d) => d.name).join(', ')} is inaccessible: nothing needing it can be done now`,
        inaccessible.map((d) => ({
          code: 'DATASTORE.INACCESSIBLE',
          detail: `Datastore ${d.name} (${d.datastoreId}) is inaccessible: ${d.accessibilityReason ?? 'no reason given'}`,
        })),
      );
    const workers = await this.workers.find();
    const groups = [
      ...new Set(
        workers
          .filter((w) => needed.every((id) => w.datastoreIds.includes(id)))
          .map((w) => w.group),
      ),
    ];
    // Several groups may reach these datastores: spread the jobs among them.
    for (const group of groups.sort(() => Math.random() - 0.5)) {
      if (await this.live(workerGroupId(this.config.kafkaPrefix, group)))
        return { kind: 'group', group };
    }
    throw new RuleViolationError(
      'PLACEMENT.NO_WORKER',
      'No running worker reaches the datastores this needs',
      [
        {
          code: 'PLACEMENT.NO_WORKER',
          detail:
            `Needed: ${needed.join(', ')}. ` +
            (groups.length === 0
              ? 'No worker has announced reaching all of them.'
              : `Workers that reach them (${groups.join(', ')}) are not running.`),
        },
      ],
    );
  }

  /** A running (or suspended) VM's disks and memory are in one worker's daemon: only it can act on them. */
  forVm(vm: { live: { workerId: string } | null; datastoreId: string }): Promise<Placement> {
    return vm.live ? this.forWorker(vm.live.workerId) : this.forDatastores([vm.datastoreId]);
  }

  async forWorker(workerId: string): Promise<Placement> {
    if (!(await this.live(workerOwnGroupId(this.config.kafkaPrefix, workerId)))) {
      throw new RuleViolationError(
        'PLACEMENT.WORKER_GONE',
        `The worker holding this VM's disks (${workerId}) is not running`,
        [
          {
            code: 'PLACEMENT.WORKER_GONE',
            detail: `Worker ${workerId} holds the VM's live disks and does not answer`,
          },
        ],
      );
    }
    return { kind: 'worker', workerId };
  }

  /** Whether a worker answers: its own consumer group has a member (Kafka drops it a session timeout after it died). */
  workerAnswers(workerId: string): Promise<boolean> {
    return this.live(workerOwnGroupId(this.config.kafkaPrefix, workerId));
  }

  private live(groupId: string): Promise<boolean> {
    const cached = this.liveness.get(groupId);
    if (cached && Date.now() - cached.at < LIVENESS_CACHE_MS) return Promise.resolve(cached.live);
    let answer = this.asking.get(groupId);
    if (!answer) {
      answer = this.askKafka(groupId).finally(() => this.asking.delete(groupId));
      this.asking.set(groupId, answer);
    }
    return answer;
  }

  private async askKafka(groupId: string): Promise<boolean> {
    try {
      const { groups } = await (await this.connectedAdmin()).describeGroups([groupId]);
      const live = groups.some((group) => group.members.length > 0);
      // Only a live group is remembered: one that just started is found at the next request.
      if (live) this.liveness.set(groupId, { live, at: Date.now() });
      return live;
    } catch (error) {
      // A broken connection is not kept: the next request connects afresh.
      const admin = this.admin;
      this.admin = null;
      void admin?.then((a) => a.disconnect()).catch(() => undefined);
      // Which workers run only Kafka knows: without it nothing can be placed, for now (503).
      throw new UnavailableError(
        'SERVICE.BROKER_UNAVAILABLE',
        'Kafka cannot be reached just now to find a running worker for this job; nothing was changed. Try again shortly',
        { cause: error },
      );
    }
  }

  private connectedAdmin(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      this.admin = admin.connect().then(() => admin);
    }
    return this.admin;
  }

  async onModuleDestroy(): Promise<void> {
    const admin = this.admin;
    this.admin = null;
    await admin?.then((a) => a.disconnect()).catch(() => undefined);
  }
}
