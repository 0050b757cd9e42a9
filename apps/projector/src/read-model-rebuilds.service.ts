import { hostname } from 'node:os';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type StopReason, stopReason } from '@dolly/domain';
import { PostgresEventStore, TaskReporter } from '@dolly/event-store';
import { PG_POOL, randomIds } from '@dolly/platform';
import {
  PROJECTED_CHANNEL,
  type RebuildProgress,
  discardSchema,
  keepTaskProgress,
  rebuildReadModels,
  rebuildSchemaOf,
  switchOverReadModels,
} from '@dolly/read-models';
import { PinoLogger } from 'nestjs-pino';
import type { Pool } from 'pg';

/** How often the projector looks for a rebuild to run (one asked for, or one left by a crash). */
const LOOK_EVERY_MS = 1_000;
/** How often a running rebuild asks the store whether it must stop, and reports its progress. */
const CHECK_EVERY_MS = 1_000;
/** Held, on its own session, by the projector running a rebuild: one at a time in the cluster. */
const REBUILDING_LOCK = 8245663097260212022n;

class Stopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`The rebuild stopped: ${reason}`);
  }
}

/**
 * Runs the read models' rebuilds that admins ask for (`dolly admin rebuild`, a task placed on a
 * projector): the whole history into fresh tables while the live ones serve, then a switch-over
 * (see `switchOverReadModels`). One rebuild runs at a time, in whichever projector takes the
 * rebuilding lock; a rebuild whose projector died (its session, and so the lock, gone) is taken
 * over by the next attempt, which starts again from the first event. Progress is reported in
 * events, with the rate, on the task; cancelling it drops what it had made, and the live tables
 * serve on as if it had never run.
 */
@Injectable()
export class ReadModelRebuilds implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private looking: Promise<void> | undefined;
  private readonly shutdown = new AbortController();
  private readonly reporter: TaskReporter;
  private readonly projectorId = `projector-${hostname()}-${process.pid}`;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('read-model-rebuilds');
    this.reporter = new TaskReporter(
      new PostgresEventStore(pool),
      { id: this.projectorId, role: 'projector' },
      randomIds,
    );
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.looking ??= this.look().finally(() => (this.looking = undefined));
    }, LOOK_EVERY_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.shutdown.abort();
    await this.looking;
  }

  private async look(): Promise<void> {
    try {
      const { rows } = await this.pool.query<{ task_id: string; correlation_id: string }>(
        `SELECT task_id::text, correlation_id::text FROM read_model.tasks
          WHERE status IN ('queued', 'running') AND target_type = 'read-models'
          ORDER BY created_at LIMIT 1`,
      );
      if (rows[0]) await this.runIfFree(rows[0].task_id, rows[0].correlation_id);
    } catch (error) {
      // PostgreSQL away: the next look tries again.
      this.logger.warn({ error: (error as Error).message }, 'could not look for a rebuild to run');
    }
  }

  /** Runs the rebuild unless another projector is running one (it holds the lock). */
  private async runIfFree(taskId: string, correlationId: string): Promise<void> {
    const session = await this.pool.connect();
    let locked = false;
    try {
      const { rows } = await session.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock($1) AS locked',
        [REBUILDING_LOCK.toString()],
      );
      locked = rows[0].locked;
      if (locked) await this.run(taskId, correlationId);
    } finally {
      if (locked)
        await session.query('SELECT pg_advisory_unlock($1)', [REBUILDING_LOCK.toString()]);
      session.release();
    }
  }

  private async run(taskId: string, correlationId: string): Promise<void> {
    // What a rebuild that died left behind: nobody else rebuilds while this projector holds the lock.
    await this.discardLeftovers();
    const started = await this.reporter.start(taskId, correlationId);
    if (!started) return;
    const { attempt } = started;
    const suffix = taskId.replace(/-/g, '');
    const stop = new AbortController();
    const onShutdown = () => stop.abort(new Stopped('shutdown'));
    this.shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    let lastProgress: RebuildProgress = { phase: 'replay', events: 0, total: 0, perSecond: 0 };
    const check = setInterval(() => {
      void this.checkTask(taskId, attempt, stop);
      void this.report(taskId, attempt, lastProgress);
    }, CHECK_EVERY_MS);
    this.logger.info({ taskId, attempt }, 'rebuilding the read models');
    try {
      const rebuilt = await rebuildReadModels(this.pool, {
        suffix,
        signal: stop.signal,
        onProgress: (progress) => void (lastProgress = progress),
      });
      lastProgress = { ...lastProgress, phase: 'switch-over' };
      await this.report(taskId, attempt, lastProgress);
      const { caughtUp } = await switchOverReadModels(this.pool, suffix, {
        checkpoint: rebuilt.checkpoint,
        signal: stop.signal,
      });
      clearInterval(check);
      const events = rebuilt.events + caughtUp;
      await this.report(taskId, attempt, { ...lastProgress, events, total: events });
      await this.reporter.succeeded(taskId, correlationId, attempt, {
        kind: 'rebuild-read-models',
        events,
      });
      this.logger.info(
        { taskId, events, eventsPerSecond: Math.round(rebuilt.eventsPerSecond) },
        'switched over to the rebuilt read models',
      );
    } catch (error) {
      await discardSchema(this.pool, rebuildSchemaOf(suffix)).catch(() => undefined);
      const reason = stop.signal.reason instanceof Stopped ? stop.signal.reason.reason : null;
      if (reason === 'superseded' || reason === 'shutdown') {
        this.logger.warn({ taskId, reason }, 'the rebuild stopped; the live read models serve on');
        return;
      }
      const cancelled = reason === 'cancelled';
      await this.reporter.ended(taskId, correlationId, attempt, {
        cancelled,
        code: cancelled ? 'TASK.CANCELLED' : 'READ_MODELS.REBUILD_FAILED',
        message: cancelled
          ? 'Cancelled on request: what the rebuild made is dropped, the live read models serve on'
          : `The rebuild failed, and the live read models serve on: ${(error as Error).message}`,
        reasons: [],
      });
      if (!cancelled)
        this.logger.error({ taskId, error: (error as Error).message }, 'rebuild failed');
    } finally {
      clearInterval(check);
      this.shutdown.signal.removeEventListener('abort', onShutdown);
    }
  }

  /** Stops the rebuild when the store says so: cancelled, or taken over by a newer attempt. */
  private async checkTask(taskId: string, attempt: number, stop: AbortController): Promise<void> {
    try {
      const reason = stopReason(await this.reporter.task(taskId), attempt);
      if (reason && !stop.signal.aborted) stop.abort(new Stopped(reason));
    } catch {
      // PostgreSQL away: the rebuild fails on its own queries, or the next check asks again.
    }
  }

  private async report(taskId: string, attempt: number, progress: RebuildProgress): Promise<void> {
    try {
      // Stamped before the write: a report still on its way when a later one lands is kept out.
      await keepTaskProgress(this.pool, {
        taskId,
        attempt,
        phase: progress.phase,
        done: progress.events,
        total: progress.total,
        unit: 'events',
        perSecond: progress.perSecond,
        reportedAt: new Date().toISOString(),
      });
      // Progress streams are woken by this, as by a projected batch: they never poll.
      await this.pool.query('SELECT pg_notify($1, $2)', [PROJECTED_CHANNEL, '']);
    } catch (error) {
      this.logger.debug({ error: (error as Error).message }, 'could not report progress');
    }
  }

  private async discardLeftovers(): Promise<void> {
    const { rows } = await this.pool.query<{ schema: string }>(
      `SELECT nspname AS schema FROM pg_namespace WHERE nspname ~ '^read_model_(rebuild|retired)_'`,
    );
    for (const { schema } of rows) {
      await discardSchema(this.pool, schema);
      this.logger.warn({ schema }, 'dropped what an earlier rebuild left');
    }
  }
}
