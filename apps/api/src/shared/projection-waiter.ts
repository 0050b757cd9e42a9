import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import { DOLLY_CONFIG, Metrics, PG_POOL } from '@dolly/platform';
import { PROJECTED_CHANNEL, type TaskRow } from '@dolly/read-models';
import { Client, type Pool } from 'pg';
import type { Counter } from 'prom-client';
import { type Progress, taskView, type TaskView } from '../tasks/task.representation';

/** After the listening connection is lost, it is made again this soon (while anyone waits). */
const RECONNECT_MS = 1000;

const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

interface TaskWaiter {
  taskId: string;
  byWorker: boolean;
  met: () => void;
}

interface StreamWaiter {
  streamId: string;
  version: number;
  met: () => void;
}

/** A progress stream: shown the task whenever the projector may have changed it. */
export interface TaskWatcher {
  taskId: string;
  seen: (task: TaskView) => void;
  /** The API shuts down: the stream ends. */
  stop: () => void;
}

interface Watched {
  tasks: readonly TaskWaiter[];
  streams: readonly StreamWaiter[];
  watchers: readonly TaskWatcher[];
}

/** A task's row as the one query returns it (JSON: snake_case columns, times as text). */
interface TaskJson {
  task: Record<string, unknown>;
  progress: Record<string, unknown> | null;
}

/**
 * Lets requests wait until the read models show something: a task ended, a stream projected up to
 * a version (`Prefer: wait=N`), a task changed (its progress stream). One LISTEN connection serves
 * them all. The projector notifies after each batch (and each batch of progress reports); then
 * one query answers every waiter and every stream at once, grouped by what they wait for, however
 * many there are. Notifications that come while that query runs are answered by one more.
 * Nothing polls: a task that never ends costs nothing until something is projected.
 */
@Injectable()
export class ProjectionWaiter implements OnApplicationShutdown {
  private readonly logger = new Logger(ProjectionWaiter.name);
  private listener: Client | undefined;
  private connecting: Promise<void> | undefined;
  private reconnect: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly taskWaiters = new Set<TaskWaiter>();
  private readonly streamWaiters = new Set<StreamWaiter>();
  private readonly watchers = new Set<TaskWatcher>();
  private looking: Promise<void> | undefined;
  private lookAgain = false;
  private readonly notifications: Counter;
  private readonly queries: Counter;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    metrics: Metrics,
  ) {
    this.notifications = metrics.counter(
      'dolly_api_projection_notifications_total',
      'Notifications from the projector the API received',
    );
    this.queries = metrics.counter(
      'dolly_api_wait_queries_total',
      'Queries made to answer waiting requests and progress streams (one per notification at most, however many wait)',
      ['cause'],
    );
  }

  /** True once the read model shows the task ended (how it ended is in its row); false when time runs out. */
  waitForTask(taskId: string, timeoutMs: number, done: { byWorker: boolean }): Promise<boolean> {
    return this.waitUntil(
      this.taskWaiters,
      (met) => ({ taskId, byWorker: done.byWorker, met }),
      (waiter) => ({ tasks: [waiter], streams: [], watchers: [] }),
      timeoutMs,
    );
  }

  /** True once the projector applied a stream up to this version (streams travel on their own partitions). */
  waitForStream(streamId: string, version: number, timeoutMs: number): Promise<boolean> {
    return this.waitUntil(
      this.streamWaiters,
      (met) => ({ streamId, version, met }),
      (waiter) => ({ tasks: [], streams: [waiter], watchers: [] }),
      timeoutMs,
    );
  }

  /**
   * Shows a progress stream the task each time something is projected (until it unwatches). The
   * stream reads the task once itself after watching, so nothing between is missed.
   */
  async watchTask(watcher: TaskWatcher): Promise<() => void> {
    const listening = await this.tryToListen();
    this.watchers.add(watcher);
    if (!listening) this.reconnectSoon();
    return () => this.watchers.delete(watcher);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    if (this.reconnect) clearTimeout(this.reconnect);
    for (const watcher of [...this.watchers]) watcher.stop();
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  private async waitUntil<W extends { met: () => void }>(
    waiters: Set<W>,
    make: (met: () => void) => W,
    alone: (waiter: W) => Watched,
    timeoutMs: number,
  ): Promise<boolean> {
    const listening = await this.tryToListen();
    return new Promise<boolean>((resolve) => {
      const finish = (met: boolean) => {
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(met);
      };
      const waiter = make(() => finish(true));
      const timer = setTimeout(() => finish(false), Math.max(0, timeoutMs));
      waiters.add(waiter);
      if (!listening) this.reconnectSoon();
      // What the read model shows already (this request's own look; notifications from now on
      // are answered with everyone's).
      void this.answer(alone(waiter), 'wait').catch((error: unknown) =>
        this.logger.warn({ err: error }, 'could not look for what a request waits for'),
      );
    });
  }

  /** A notification: one look for everyone, or one more after the one running now. */
  private lookForEveryone(): void {
    if (this.looking) {
      this.lookAgain = true;
      return;
    }
    this.looking = (async () => {
      do {
        this.lookAgain = false;
        try {
          await this.answer(
            {
              tasks: [...this.taskWaiters],
              streams: [...this.streamWaiters],
              watchers: [...this.watchers],
            },
            'notification',
          );
        } catch (error) {
          // The next notification looks again.
          this.logger.warn(
            { err: error },
            'could not look at the read models for waiting requests',
          );
        }
      } while (this.lookAgain && !this.closed);
    })().finally(() => {
      this.looking = undefined;
    });
  }

  /** One query for every task and stream waited for, grouped: each is looked up once. */
  private async answer(watched: Watched, cause: 'wait' | 'notification'): Promise<void> {
    const taskIds = [
      ...new Set([...watched.tasks, ...watched.watchers].map((waiter) => waiter.taskId)),
    ];
    const streamIds = [...new Set(watched.streams.map((waiter) => waiter.streamId))];
    if (taskIds.length === 0 && streamIds.length === 0) return;
    this.queries.inc({ cause });
    const { rows } = await this.pool.query<{ tasks: TaskJson[]; streams: [string, number][] }>(
      `SELECT
         (SELECT coalesce(json_agg(json_build_object('task', row_to_json(t), 'progress', row_to_json(p))), '[]')
            FROM read_model.tasks t LEFT JOIN read_model.task_progress p ON p.task_id = t.task_id
           WHERE t.task_id = ANY($1::uuid[])) AS tasks,
         (SELECT coalesce(json_agg(json_build_array(stream_id, version)), '[]')
            FROM read_model.projector_streams WHERE stream_id = ANY($2::text[])) AS streams`,
      [taskIds, streamIds],
    );
    const tasks = new Map(
      rows[0].tasks.map(({ task, progress }) => {
        const row = taskRow(task);
        return [row.taskId, { row, view: taskView(row, progress && progressRow(progress)) }];
      }),
    );
    const versions = new Map(rows[0].streams);
    for (const waiter of watched.tasks) {
      const task = tasks.get(waiter.taskId);
      // A task a worker does has a stream of its own: a row made from its other events' metadata
      // (they may be projected first) does not tell that it ended.
      if (task && ENDED.has(task.row.status) && !(task.row.implicit && waiter.byWorker))
        waiter.met();
    }
    for (const waiter of watched.streams) {
      if ((versions.get(waiter.streamId) ?? -1) >= waiter.version) waiter.met();
    }
    for (const watcher of watched.watchers) {
      const task = tasks.get(watcher.taskId);
      // An implicit row is a synchronous task's (its stream ended at its first look), or a worker
      // task's whose own stream is not projected yet: it tells a stream nothing.
      if (task && !task.row.implicit && this.watchers.has(watcher)) watcher.seen(task.view);
    }
  }

  private busy(): boolean {
    return this.taskWaiters.size + this.streamWaiters.size + this.watchers.size > 0;
  }

  /** False when PostgreSQL cannot be reached now: the waiter waits while the connection is made again. */
  private tryToListen(): Promise<boolean> {
    return this.listen().then(
      () => true,
      (error: unknown) => {
        this.logger.warn({ err: error }, 'cannot listen for projections now; trying again');
        return false;
      },
    );
  }

  private listen(): Promise<void> {
    if (this.listener) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new Client({
      connectionString: this.config.databaseUrl,
      application_name: 'dolly-api-projection-listener',
    });
    const lost = (error?: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      this.logger.warn({ err: error }, 'lost the connection that listens for projections');
      client.end().catch(() => undefined);
      this.reconnectSoon();
    };
    client.on('notification', () => {
      this.notifications.inc();
      this.lookForEveryone();
    });
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN ${PROJECTED_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.listener = client;
  }

  /** Notifications were missed while the connection was gone: once it is back, look for everyone. */
  private reconnectSoon(): void {
    if (this.reconnect || this.closed || !this.busy()) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = undefined;
      this.listen().then(
        () => this.lookForEveryone(),
        () => this.reconnectSoon(),
      );
    }, RECONNECT_MS);
  }
}

function taskRow(json: Record<string, unknown>): TaskRow {
  const time = (value: unknown) => (value === null ? null : new Date(value as string));
  return {
    taskId: json.task_id as string,
    operation: json.operation as string,
    targetType: json.target_type as string,
    targetId: json.target_id as string,
    status: json.status as string,
    implicit: json.implicit as boolean,
    attempt: json.attempt as number,
    workerId: json.worker_id as string | null,
    cancelRequested: json.cancel_requested as boolean,
    errorCode: json.error_code as string | null,
    errorMessage: json.error_message as string | null,
    errorReasons: (json.error_reasons ?? []) as TaskRow['errorReasons'],
    actorId: json.actor_id as string,
    actorRole: json.actor_role as string,
    correlationId: json.correlation_id as string,
    createdAt: time(json.created_at)!,
    updatedAt: time(json.updated_at)!,
    completedAt: time(json.completed_at),
  };
}

function progressRow(json: Record<string, unknown>): Progress {
  return {
    phase: json.phase as string,
    done: Number(json.done),
    total: Number(json.total),
    unit: json.unit as Progress['unit'],
    perSecond: json.per_second as number | null,
    attempt: json.attempt as number,
  };
}
