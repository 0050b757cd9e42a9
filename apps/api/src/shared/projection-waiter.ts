import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import { DOLLY_CONFIG, PG_POOL } from '@dolly/platform';
import { PROJECTED_CHANNEL } from '@dolly/read-models';
import { Client, type Pool } from 'pg';

/** Notifications can be missed while the listening connection reconnects: look anyway, now and then. */
const SAFETY_POLL_MS = 250;

/**
 * Lets a request wait until the projector has applied a task's events (`Prefer: wait=N`). One
 * LISTEN connection serves every waiter; each notification is answered by one query for all.
 */
@Injectable()
export class ProjectionWaiter implements OnApplicationShutdown {
  private listener: Client | undefined;
  private connecting: Promise<void> | undefined;
  private readonly waiters = new Map<string, Set<() => void>>();
  private poll: NodeJS.Timeout | undefined;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
  ) {}

  /** Resolves true once the read model shows the task ended (how it ended is in the row), false when time runs out. */
  async waitForTask(taskId: string, timeoutMs: number): Promise<boolean> {
    if (await this.isProjected([taskId]).then((found) => found.has(taskId))) return true;
    await this.listen();
    return new Promise<boolean>((resolve) => {
      const waiters = this.waiters.get(taskId) ?? new Set();
      const done = (projected: boolean) => {
        clearTimeout(timer);
        waiters.delete(onProjected);
        if (waiters.size === 0) this.waiters.delete(taskId);
        this.stopPollingIfIdle();
        resolve(projected);
      };
      const onProjected = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      waiters.add(onProjected);
      this.waiters.set(taskId, waiters);
      this.poll ??= setInterval(() => void this.check(), SAFETY_POLL_MS);
      // It may have been projected between the first look and registering.
      void this.check();
    });
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    await this.listener?.end().catch(() => undefined);
  }

  private async isProjected(taskIds: string[]): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ task_id: string }>(
      `SELECT task_id FROM read_model.tasks WHERE task_id = ANY($1) AND status IN ('succeeded', 'failed', 'cancelled')`,
      [taskIds],
    );
    return new Set(rows.map((row) => row.task_id));
  }

  private async check(): Promise<void> {
    if (this.waiters.size === 0) return;
    try {
      const found = await this.isProjected([...this.waiters.keys()]);
      for (const taskId of found)
        for (const waiter of [...(this.waiters.get(taskId) ?? [])]) waiter();
    } catch {
      // The next notification or poll looks again.
    }
  }

  private stopPollingIfIdle(): void {
    if (this.waiters.size === 0 && this.poll) {
      clearInterval(this.poll);
      this.poll = undefined;
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
