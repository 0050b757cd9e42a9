import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import { DOLLY_CONFIG, PG_POOL } from '@dolly/platform';
import { PROJECTED_CHANNEL } from '@dolly/read-models';
import { Client, type Pool } from 'pg';

/** Notifications can be missed while the listening connection reconnects: look anyway, now and then. */
const SAFETY_POLL_MS = 250;

type Condition = () => Promise<boolean>;

/**
 * Lets a request wait until the read models show something (`Prefer: wait=N`): a task ended, a
 * stream projected up to a version. One LISTEN connection serves every waiter; the projector
 * notifies after each batch, and each waiter then looks again.
 */
@Injectable()
export class ProjectionWaiter implements OnApplicationShutdown {
  private listener: Client | undefined;
  private connecting: Promise<void> | undefined;
  private readonly waiters = new Set<{ condition: Condition; met: () => void }>();
  private poll: NodeJS.Timeout | undefined;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
  ) {}

  /** True once the read model shows the task ended (how it ended is in its row); false when time runs out. */
  waitForTask(taskId: string, timeoutMs: number, done: { byWorker: boolean }): Promise<boolean> {
    return this.waitUntil(async () => {
      // A task a worker does has a stream of its own: a row made from its other events' metadata
      // (they may be projected first) does not tell that it ended.
      const { rowCount } = await this.pool.query(
        `SELECT 1 FROM read_model.tasks
          WHERE task_id = $1 AND status IN ('succeeded', 'failed', 'cancelled') AND NOT (implicit AND $2)`,
        [taskId, done.byWorker],
      );
      return rowCount === 1;
    }, timeoutMs);
  }

  /** True once the projector applied a stream up to this version (streams travel on their own partitions). */
  waitForStream(streamId: string, version: number, timeoutMs: number): Promise<boolean> {
    return this.waitUntil(async () => {
      const { rowCount } = await this.pool.query(
        'SELECT 1 FROM read_model.projector_streams WHERE stream_id = $1 AND version >= $2',
        [streamId, version],
      );
      return rowCount === 1;
    }, timeoutMs);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    await this.listener?.end().catch(() => undefined);
  }

  private async waitUntil(condition: Condition, timeoutMs: number): Promise<boolean> {
    if (await condition()) return true;
    await this.listen();
    return new Promise<boolean>((resolve) => {
      const waiter = { condition, met: () => done(true) };
      const timer = setTimeout(() => done(false), timeoutMs);
      const done = (met: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        if (this.waiters.size === 0 && this.poll) {
          clearInterval(this.poll);
          this.poll = undefined;
        }
        resolve(met);
      };
      this.waiters.add(waiter);
      this.poll ??= setInterval(() => void this.check(), SAFETY_POLL_MS);
      // It may have come true between the first look and registering.
      void this.check();
    });
  }

  private async check(): Promise<void> {
    for (const waiter of [...this.waiters]) {
      try {
        if (await waiter.condition()) waiter.met();
      } catch {
        // The next notification or poll looks again.
      }
    }
  }

  private listen(): Promise<void> {
    if (this.listener) return Promise.resolve();
    this.connecting ??= (async () => {
      const client = new Client({
        connectionString: this.config.databaseUrl,
        application_name: 'dolly-api-projection-listener',
      });
      client.on('notification', () => void this.check());
      client.on('error', () => {
        this.listener = undefined;
        client.end().catch(() => undefined);
      });
      await client.connect();
      await client.query(`LISTEN ${PROJECTED_CHANNEL}`);
      this.listener = client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }
}
