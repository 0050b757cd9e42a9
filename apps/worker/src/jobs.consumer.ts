import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { type DollyConfig } from '@dolly/config';
import {
  EVENT_TOPIC_PARTITIONS,
  jobsTopic,
  parseCeType,
  progressTopic,
  readEventMessage,
  workerGroupId,
  workerOwnGroupId,
  workerWatchGroupId,
  type TaskProgressMessage,
} from '@dolly/contracts';
import { DiskEngineError } from '@dolly/disk-engine';
import {
  DomainError,
  type Job,
  type Measurements,
  isVmJob,
  type JobEnding,
  jobDisks,
  type Placement,
  type TaskQueued,
} from '@dolly/domain';
import { PostgresEventStore, TaskReporter, verifyAgainstStore } from '@dolly/event-store';
import { ensureTopics, progressTopicSpec } from '@dolly/messaging';
import {
  DOLLY_CONFIG,
  DeadLetters,
  HealthRegistry,
  KAFKA,
  Metrics,
  PG_POOL,
  randomIds,
} from '@dolly/platform';
import {
  type Consumer,
  type EachMessagePayload,
  type Kafka,
  type KafkaMessage,
  Partitioners,
  type Producer,
} from 'kafkajs';
import { PinoLogger } from 'nestjs-pino';
import type { Pool } from 'pg';
import { AttemptWatch, type StopReason, type WatchedTask } from './attempt-watch';
import { DataPlaneService, WORKER_SETTINGS } from './data-plane.service';
import { ImportRefused } from './jobs/import.job';
import { type ImportSettings } from './jobs/job-context';
import { type AnyOutcome, runJob } from './jobs/run-job';
import { attemptTransfer } from './transfers/attempt-transfer';
import { TransferRegistry } from './transfers/transfer-registry';
import type { WorkerSettings } from './worker-settings';

/** A job whose disk work is busy elsewhere is tried again, this often, this many times. */
const BUSY_RETRY_MS = 1_000;
const BUSY_RETRIES = 60;
/** Progress is sent at most this often per task. */
const PROGRESS_EVERY_MS = 250;
/**
 * A job arriving before the engine first started (the worker has just started, and jobs for the
 * running VMs its daemon holds come first) waits this long for it rather than failing at once.
 */
const ENGINE_START_WAIT_MS = 60_000;

/** The groups a group consumer takes jobs of: the one it joined, and those the worker left. */
interface ConsumedGroups {
  joined: string;
  earlier: ReadonlySet<string>;
}

/**
 * Takes jobs from the jobs topic (the task topic: TaskQueued carries the job) as a member of two
 * consumer groups: the group of the workers that reach the same datastores (any of them may do
 * its jobs: more workers, more throughput, and a job a dead worker held goes to another), and a
 * group of its own (jobs only it can do: its storage daemon holds a running VM's disks).
 *
 * A job is run only when its TaskQueued is genuine: valid against the published schemas, and held
 * by the store as it came, job and placement included. A forged one addressed to this worker is
 * dead-lettered; other messages on the topic are the projector's to judge (it reads them all).
 */
@Injectable()
export class JobsConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly consumers = new Map<'group' | 'own', Consumer>();
  private producer: Producer | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private readonly reporter: TaskReporter;
  private readonly store: PostgresEventStore;
  private readonly attempts: AttemptWatch;
  private readonly running = new Map<string, AbortController>();
  /** Tasks past the gate: they use the engine, which must not restart under them. */
  private usingEngine = 0;
  /** Set while the engine restarts on a new datastore set: tasks wait at the gate. */
  private restarting: Promise<void> | undefined;
  private scanning = false;
  private readonly jobsDone;
  private readonly imports: ImportSettings;

  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(PG_POOL) pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    @Inject(WORKER_SETTINGS) private readonly settings: WorkerSettings,
    private readonly dataPlane: DataPlaneService,
    private readonly health: HealthRegistry,
    private readonly deadLetters: DeadLetters,
    private readonly transfers: TransferRegistry,
    metrics: Metrics,
    private readonly logger: PinoLogger,
    private readonly http: HttpAdapterHost,
  ) {
    this.logger.setContext('jobs');
    this.store = new PostgresEventStore(pool, { maxEventBytes: config.eventMaxBytes });
    this.reporter = new TaskReporter(
      this.store,
      { id: settings.workerId, role: 'worker' },
      randomIds,
    );
    this.attempts = new AttemptWatch(kafka, {
      topic: jobsTopic(config.kafkaPrefix),
      kafkaPrefix: config.kafkaPrefix,
      groupId: workerWatchGroupId(config.kafkaPrefix, settings.workerId),
      readTask: (taskId) => this.reporter.task(taskId),
      log: {
        warn: (message, extra) => this.logger.warn(extra, message),
        error: (message, extra) => this.logger.error(extra, message),
      },
    });
    // Read once at start: a CA file that cannot be read is a setting to fix, said at once.
    this.imports = {
      roots: config.importRoots,
      trustedCaPems: config.importTrustedCaFiles.map((file) => readFileSync(file, 'utf8')),
    };
    this.jobsDone = metrics.counter('dolly_worker_jobs_total', 'Jobs this worker ran to an end', [
      'kind',
      'outcome',
    ]);
  }
  /**
   * Where the API reaches this worker's transfer endpoint: as configured, or this worker's own
   * port on 127.0.0.1 as it listens (a port of 0 in the configuration is chosen at listen).
   */
  private transferUrl(): string {
    if (this.config.workerTransferUrl) return this.config.workerTransferUrl;
    const { port } = this.http.httpAdapter.getHttpServer().address() as { port: number };
    return `http://127.0.0.1:${port}`;
  }

  async onApplicationBootstrap(): Promise<void> {
    const prefix = this.config.kafkaPrefix;
    await ensureTopics(this.kafka, [
      { topic: jobsTopic(prefix), numPartitions: EVENT_TOPIC_PARTITIONS },
      progressTopicSpec(prefix),
      this.deadLetters.topic,
    ]);
    this.producer = this.kafka.producer({
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await this.producer.connect();
    await Promise.all([
      this.attempts.start(),
      this.startConsumer('own', workerOwnGroupId(prefix, this.settings.workerId)),
    ]);
    await this.rescan();
    this.rescanTimer = setInterval(() => void this.rescan(), this.settings.rescanMs);
    this.health.register('jobs', async () => ({
      status: this.consumers.has('own') ? 'up' : 'down',
      details: { group: this.dataPlane.current?.group ?? null, running: [...this.running.keys()] },
    }));
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    for (const controller of this.running.values())
      controller.abort('shutdown' satisfies StopReason);
    await Promise.all(
      [...this.consumers.values()].map((consumer) => consumer.disconnect().catch(() => undefined)),
    );
    await this.attempts.stop();
    await this.producer?.disconnect().catch(() => undefined);
  }

  /** A new datastore set restarts the engine, then the worker joins the group that serves it. */
  private async rescan(): Promise<void> {
    if (this.scanning) return;
    this.scanning = true;
    try {
      const reached = await this.dataPlane.scan();
      if (!reached) return;
      await this.restartEngine(reached);
      const served = this.dataPlane.current!;
      await this.consumers.get('group')?.disconnect();
      this.consumers.delete('group');
      await this.startConsumer('group', workerGroupId(this.config.kafkaPrefix, served.group), {
        joined: served.group,
        earlier: new Set(served.earlierGroups),
      });
      this.logger.info(
        { group: served.group, datastores: served.datastoreIds, earlier: served.earlierGroups },
        'serving datastores',
      );
    } catch (error) {
      this.logger.error({ error: (error as Error).message }, 'datastore scan failed; trying again');
    } finally {
      this.scanning = false;
    }
  }

  /**
   * Tasks arriving meanwhile wait at the gate, and the restart waits for the tasks already using
   * the engine: a job never runs on a stopped engine. The gate opens before the old group's
   * consumer is disconnected, since disconnecting waits for its handlers, those at the gate too.
   */
  private async restartEngine(reached: Parameters<DataPlaneService['serve']>[0]): Promise<void> {
    let reopen!: () => void;
    this.restarting = new Promise((resolve) => (reopen = resolve));
    try {
      while (this.usingEngine > 0) await sleep(50);
      await this.dataPlane.serve(reached);
    } finally {
      this.restarting = undefined;
      reopen();
    }
  }

  private async startConsumer(
    which: 'group' | 'own',
    groupId: string,
    groups: ConsumedGroups | null = null,
  ): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
      // A job may take minutes: the member stays in its group by heartbeats sent while it works.
      rebalanceTimeout: 60_000,
      maxWaitTimeInMs: 100,
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5_000 },
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [jobsTopic(this.config.kafkaPrefix)], fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: this.settings.concurrentJobs,
      eachMessage: (payload) => this.onMessage(which, groupId, groups, payload),
    });
    this.consumers.set(which, consumer);
  }

  /**
   * Whether a job is this consumer's, and how: a group consumer takes the jobs placed on the group
   * it joined, not on whatever the worker serves at this moment. While the engine restarts on a new
   * datastore set (one became inaccessible, or came back) the old group's consumer still runs
   * until the gate opens: a job placed on its group then waits at the gate and runs (or fails
   * with the engine's reason), rather than being passed over, its offset committed and its task
   * left queued for good. A job placed on a group the worker left (the API had not yet seen it
   * move on) is adopted when the worker still reaches that group's datastores: started only
   * while still queued, since another member of that group may hold it.
   */
  private claim(
    which: 'group' | 'own',
    groups: ConsumedGroups | null,
    placement: Placement,
  ): 'placed' | 'adopted' | null {
    if (which === 'own')
      return placement.kind === 'worker' && placement.workerId === this.settings.workerId
        ? 'placed'
        : null;
    if (placement.kind !== 'group' || !groups) return null;
    if (placement.group === groups.joined) return 'placed';
    return groups.earlier.has(placement.group) ? 'adopted' : null;
  }

  private async onMessage(
    which: 'group' | 'own',
    groupId: string,
    groups: ConsumedGroups | null,
    { topic, partition, message, heartbeat }: EachMessagePayload,
  ): Promise<void> {
    const placement = claimedJobPlacement(message);
    const claim = placement && this.claim(which, groups, placement);
    if (!claim) return;
    const queued = await this.genuineJob(topic, message);
    if (!queued.ok) {
      // A forged job is dead-lettered once, by a consumer of the group it names.
      if (claim === 'adopted') return;
      const { reason, detail } = queued;
      await this.deadLetters.send(groupId, [
        { topic, partition, offset: message.offset, message, reason, detail },
      ]);
      return;
    }
    const beat = setInterval(() => void heartbeat().catch(() => undefined), 2_000);
    try {
      await this.runTask(queued.data.taskId, queued.correlationId, claim === 'adopted');
    } finally {
      clearInterval(beat);
    }
  }

  /** The TaskQueued a message claims to be, if it is valid and the store holds it as it came. */
  private async genuineJob(topic: string, message: KafkaMessage) {
    const check = readEventMessage(message, topic, this.config.kafkaPrefix);
    if (!check.ok) return check;
    const [verdict] = await verifyAgainstStore(this.store, [check.value]);
    if (!verdict.genuine) return { ok: false as const, ...verdict };
    const { data, metadata } = verdict.event;
    return {
      ok: true as const,
      data: data as TaskQueued['data'],
      correlationId: metadata.correlationId,
    };
  }

  private async runTask(taskId: string, correlationId: string, adopted: boolean): Promise<void> {
    const giveUpAt = Date.now() + ENGINE_START_WAIT_MS;
    while (!this.dataPlane.current && Date.now() < giveUpAt) await sleep(100);
    while (this.restarting) await this.restarting;
    this.usingEngine++;
    try {
      await this.runStartedTask(taskId, correlationId, adopted);
    } finally {
      this.usingEngine--;
    }
  }

  private async runStartedTask(
    taskId: string,
    correlationId: string,
    adopted: boolean,
  ): Promise<void> {
    // Watched before it starts: news of the attempt may come before `start` returns.
    const watched = this.attempts.follow(taskId);
    try {
      const started = await this.reporter.start(taskId, correlationId, {
        onlyIfQueued: adopted,
      });
      if (started) await this.runAttempt(taskId, correlationId, started, watched);
    } finally {
      watched.end();
    }
  }

  private async runAttempt(
    taskId: string,
    correlationId: string,
    { attempt, job }: { attempt: number; job: Job },
    watched: WatchedTask,
  ): Promise<void> {
    const controller = new AbortController();
    this.running.set(taskId, controller);
    watched.running(attempt, controller);
    let lastProgress = 0;
    try {
      // An upload is sent once: a job that took it cannot run again for want of its bytes.
      const retryBusy = !(job.kind === 'import' && job.source.kind === 'upload');
      const outcome = await this.untilNotBusy(controller.signal, retryBusy, () =>
        runJob(job, {
          engine: this.dataPlane.engine,
          taskId,
          workerId: this.settings.workerId,
          signal: controller.signal,
          progress: (phase, doneBytes, totalBytes) => {
            const now = Date.now();
            if (now - lastProgress < PROGRESS_EVERY_MS && doneBytes < totalBytes) return;
            lastProgress = now;
            void this.sendProgress({
              taskId,
              attempt,
              phase,
              doneBytes,
              totalBytes,
              reportedAt: new Date(now).toISOString(),
            });
          },
          transfer: attemptTransfer(this.transfers, {
            taskId,
            waitMs: this.config.transferWaitMs,
            signal: controller.signal,
            announce: () =>
              this.reporter.openTransfer(taskId, correlationId, attempt, this.transferUrl()),
          }),
          imports: this.imports,
        }),
      );
      await this.reporter.succeeded(
        taskId,
        correlationId,
        attempt,
        outcome,
        await this.measure(job, outcome),
      );
      this.jobsDone.inc({ kind: job.kind, outcome: 'succeeded' });
    } catch (error) {
      await this.reportFailure(
        taskId,
        correlationId,
        attempt,
        job.kind,
        error,
        controller.signal.reason as StopReason | undefined,
      );
    } finally {
      this.running.delete(taskId);
    }
  }

  private async reportFailure(
    taskId: string,
    correlationId: string,
    attempt: number,
    kind: string,
    error: unknown,
    stopped: StopReason | undefined,
  ) {
    if (stopped === 'superseded' || stopped === 'shutdown' || isSuperseded(error)) {
      // A newer attempt (or the next run of this worker) owns the task now: report nothing.
      this.logger.warn({ taskId, attempt, stopped }, 'attempt stopped without reporting');
      return;
    }
    const cancelled = stopped === 'cancelled';
    const code = cancelled ? 'TASK.CANCELLED' : errorCode(error);
    const message = cancelled
      ? 'Cancelled on request; what the task began was undone'
      : (error as Error).message;
    if (!cancelled) this.logger.error({ taskId, attempt, code, error: message }, 'job failed');
    const reasons = cancelled ? [] : failureReasons(error);
    try {
      await this.reporter.ended(taskId, correlationId, attempt, {
        cancelled,
        code,
        message,
        reasons,
      });
      this.jobsDone.inc({ kind, outcome: cancelled ? 'cancelled' : 'failed' });
    } catch (reportError) {
      if (!isSuperseded(reportError)) throw reportError;
    }
  }

  /**
   * What the job left behind, reported with its outcome: the block maps of the VM's disks (which
   * layer holds each range, the chain's lineage) and the datastore's usage. A measure that fails
   * is left out rather than failing work already done.
   */
  private async measure(job: Job, outcome: AnyOutcome): Promise<Measurements | undefined> {
    // A fork's (or refreshed clone's) overlays are empty by construction: forks stay cheap.
    if (job.kind === 'fork' || job.kind === 'refresh' || !isVmJob(job)) return undefined;
    const engine = this.dataPlane.engine;
    const { datastoreId, diskIds: touched } = jobDisks(job);
    const diskIds = outcome.kind === 'delete-vm' ? [] : touched;
    try {
      const blockMaps = [];
      for (const diskId of diskIds) {
        const map = await engine.blockMap({ target: { diskId } });
        blockMaps.push({
          diskId,
          topLayerId: map.topLayerId,
          capacityBytes: map.capacityBytes,
          allocatedBytes: map.allocatedBytes,
          extents: map.extents,
          bytesPerLayer: map.bytesPerLayer,
        });
      }
      const space = await engine.space(datastoreId);
      const usage = {
        provisionedBytes: space.provisionedBytes,
        usedBytes: space.usedBytes,
        sharedBytes: space.sharedBytes,
        ownBytes: space.ownBytes,
      };
      return { blockMaps, usage };
    } catch (error) {
      this.logger.warn(
        { error: (error as Error).message, datastoreId },
        'could not measure after the job',
      );
      return undefined;
    }
  }

  /**
   * Another worker may still hold one of the job's operations (it lost the job but not its
   * process yet), or a datastore's lock for a moment: the engine says so with a retryable code.
   * The job's operations are idempotent, so the job runs again until it gets through.
   */
  private async untilNotBusy<T>(
    signal: AbortSignal,
    retryBusy: boolean,
    run: () => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        if (!retryBusy || !isBusyElsewhere(error) || signal.aborted || attempt >= BUSY_RETRIES)
          throw error;
        this.logger.warn(
          { code: (error as DiskEngineError).code, attempt },
          'disk engine busy; trying the job again',
        );
        await sleep(BUSY_RETRY_MS);
      }
    }
  }

  private async sendProgress(progress: TaskProgressMessage) {
    await this.producer
      ?.send({
        topic: progressTopic(this.config.kafkaPrefix),
        acks: 1,
        messages: [{ key: progress.taskId, value: JSON.stringify(progress) }],
      })
      .catch(() => undefined);
  }
}

/** Work another worker still holds, or a lock held for a moment: worth running the job again. */
function isBusyElsewhere(error: unknown): error is DiskEngineError {
  return (
    error instanceof DiskEngineError &&
    (error.code === 'DISK.BUSY' || error.code === 'DISK.OPERATION_IN_PROGRESS')
  );
}

function isSuperseded(error: unknown): boolean {
  return (
    error instanceof DomainError &&
    (error.code === 'TASK.ATTEMPT_SUPERSEDED' || error.code === 'TASK.ALREADY_FINISHED')
  );
}

/** TaskFailed's bounds on one reason (libs/domain task.events.ts). */
const REASON_BOUNDS = { code: 128, detail: 2000, at: 1000 };

/**
 * Every reason of a failure found for several (a refused package: its members, files, digests),
 * as the task records them; a hostile package's names are cut to what the event holds.
 */
function failureReasons(error: unknown): NonNullable<JobEnding['reasons']> {
  const reasons =
    error instanceof ImportRefused
      ? error.packageReasons
      : error instanceof DomainError
        ? error.reasons.map(({ code, detail, pointer }) => ({ code, detail, at: pointer }))
        : [];
  return reasons.map(({ code, detail, at }) => ({
    code: code.slice(0, REASON_BOUNDS.code),
    detail: detail.slice(0, REASON_BOUNDS.detail),
    ...(at === undefined ? {} : { at: at.slice(0, REASON_BOUNDS.at) }),
  }));
}

function errorCode(error: unknown): string {
  if (error instanceof DiskEngineError || error instanceof DomainError) return error.code;
  return 'WORKER.INTERNAL';
}

/**
 * Whose job a message on the task topic says it is, read leniently: only the group it names acts
 * on it, and dead-letters it if it is forged (so one letter per forged job, not one per group).
 * Undefined for anything that is not even a readable TaskQueued: the projector judges that.
 */
function claimedJobPlacement(message: KafkaMessage): Placement | undefined {
  const type = message.headers?.ce_type?.toString();
  if (parseCeType(type ?? '')?.type !== 'TaskQueued' || !message.value) return undefined;
  try {
    const placement = (JSON.parse(message.value.toString('utf8')) as { placement?: unknown })
      ?.placement as Placement | undefined;
    return typeof placement === 'object' && placement !== null ? placement : undefined;
  } catch {
    return undefined;
  }
}
