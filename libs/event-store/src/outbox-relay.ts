import type { RecordedEvent } from '@dolly/contracts';
import type { EventPublisher } from '@dolly/messaging';
import { Client, type Pool } from 'pg';
import { rowToEvent } from './event-store';

export interface RelayLog {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

export interface RelayOptions {
  databaseUrl: string;
  batchSize?: number;
  /** How often to look for events when no notification came (appends notify; this is the fallback). */
  pollIntervalMs?: number;
  maxBackoffMs?: number;
  /**
   * Longest a Kafka step (a send, a look at what already arrived, dropping the producer) may take
   * before it counts as failed. kafkajs calls can hang after a broker restart, with no error (as
   * its consumers can, kafkajs#659): a relay awaiting one would publish nothing again, silently.
   */
  kafkaStepTimeoutMs?: number;
  log: RelayLog;
  /** Told after every published batch, with how long each event waited in the outbox, for metrics. */
  onPublished?: (events: readonly RecordedEvent[], waitedSeconds: readonly number[]) => void;
}

export interface RelayStatus {
  leader: boolean;
  publishedEvents: number;
  consecutiveFailures: number;
  lastError: string | null;
}

/** Only one relay publishes at a time (per database): the holder of this advisory lock. */
const RELAY_LOCK = 0x72656c6179; // "relay"
/** Notified at the commit of whatever adds to the outbox (migration OutboxNotify). */
const OUTBOX_CHANNEL = 'dolly_outbox';
/** How soon to look again for events held back behind an older open transaction. */
const HELD_BACK_POLL_MS = 10;

const NEXT_BATCH_SQL = `
  SELECT e.global_position::text AS global_position, e.transaction_id::text AS transaction_id, e.event_id,
         e.stream_id, e.stream_type, e.stream_version, e.type, e.schema_version, e.data, e.metadata, e.occurred_at,
         o.enqueued_at
    FROM event_store.outbox o JOIN event_store.events e USING (global_position)
   WHERE o.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
   ORDER BY o.transaction_id, o.global_position
   LIMIT $1`;

/**
 * Publishes the outbox to Kafka in the store's global order, then deletes what it published.
 *
 * Kafka down: sends fail, rows stay, the relay backs off and tries again. After any failed send
 * (and at start, in case a previous relay died mid-send) it first asks Kafka which of the pending
 * events did arrive, so each event is published once.
 */
export class OutboxRelay {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private wokenWhileBusy = false;
  private lockClient: Client | undefined;
  private mustReconcile = true;
  private readonly state: RelayStatus = {
    leader: false,
    publishedEvents: 0,
    consecutiveFailures: 0,
    lastError: null,
  };
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly maxBackoffMs: number;
  private readonly kafkaStepTimeoutMs: number;

  constructor(
    private readonly pool: Pool,
    private readonly publisher: EventPublisher,
    private readonly options: RelayOptions,
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.kafkaStepTimeoutMs = options.kafkaStepTimeoutMs ?? 60_000;
  }

  /** A Kafka step, failed when it takes longer than kafkaStepTimeoutMs (see there). */
  private bounded<T>(step: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new Error(`Kafka: ${step} did not finish within ${this.kafkaStepTimeoutMs} ms`)),
        this.kafkaStepTimeoutMs,
      );
    });
    return Promise.race([work, late]).finally(() => clearTimeout(timer));
  }

  get status(): RelayStatus {
    return { ...this.state };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Cuts a sleep short (to stop now, or because there is work). */
  private wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.wokenWhileBusy = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    await this.releaseLeadership();
    await this.publisher.close();
  }

  /** Events in the outbox, published or not yet visible: the relay's lag. */
  async pendingCount(): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>(
      'SELECT count(*) AS count FROM event_store.outbox',
    );
    return Number(rows[0].count);
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (!(await this.holdLeadership())) {
          await this.sleep(2000);
          continue;
        }
        const published = await this.publishNextBatch();
        if (this.state.consecutiveFailures > 0) {
          this.options.log.info('outbox relay recovered', {
            afterFailures: this.state.consecutiveFailures,
          });
        }
        this.state.consecutiveFailures = 0;
        this.state.lastError = null;
        if (published < this.batchSize)
          await this.sleep((await this.heldBack()) ? HELD_BACK_POLL_MS : this.pollIntervalMs);
      } catch (error) {
        this.state.consecutiveFailures += 1;
        this.state.lastError = (error as Error).message;
        this.mustReconcile = true;
        // A fresh producer next time; one that does not even let go in time is left behind.
        await this.bounded('dropping the producer', this.publisher.reset()).catch(() => undefined);
        const backoff = Math.min(
          this.maxBackoffMs,
          100 * 2 ** Math.min(this.state.consecutiveFailures, 10),
        );
        const log =
          this.state.consecutiveFailures === 1 ? this.options.log.warn : this.options.log.error;
        log.call(this.options.log, 'outbox relay failed; retrying', {
          error: this.state.lastError,
          failures: this.state.consecutiveFailures,
          backoffMs: backoff,
        });
        await this.sleep(backoff);
      }
    }
  }

  private async publishNextBatch(): Promise<number> {
    const { rows } = await this.pool.query(NEXT_BATCH_SQL, [this.batchSize]);
    if (rows.length === 0) {
      this.mustReconcile = false;
      return 0;
    }
    const batch = rows.map(rowToEvent);
    let toSend = batch;
    if (this.mustReconcile) {
      toSend = await this.bounded('reading what arrived', this.publisher.unpublished(batch));
      if (toSend.length < batch.length) {
        this.options.log.info('outbox relay found events already in Kafka', {
          alreadyPublished: batch.length - toSend.length,
        });
      }
      this.mustReconcile = false;
    }
    // Anything from here to the delete may fail after Kafka has the events: check before resending.
    this.mustReconcile = true;
    await this.bounded('sending', this.publisher.publish(toSend));
    await this.pool.query(
      'DELETE FROM event_store.outbox WHERE global_position = ANY($1::bigint[])',
      [batch.map((event) => event.globalPosition)],
    );
    this.mustReconcile = false;
    this.state.publishedEvents += toSend.length;
    const now = Date.now();
    this.options.onPublished?.(
      toSend,
      rows.map((row: { enqueued_at: Date }) => (now - row.enqueued_at.getTime()) / 1000),
    );
    return batch.length;
  }

  /**
   * Whether events wait in the outbox behind an older transaction still open (any transaction of
   * the database, which does not notify when it ends): they are looked for again shortly.
   */
  private async heldBack(): Promise<boolean> {
    const { rows } = await this.pool.query<{ waiting: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM event_store.outbox) AS waiting',
    );
    return rows[0].waiting;
  }

  private async holdLeadership(): Promise<boolean> {
    if (this.state.leader && this.lockClient) return true;
    if (!this.lockClient) {
      const client = new Client({
        connectionString: this.options.databaseUrl,
        application_name: 'dolly-relay-lock',
      });
      client.on('error', (error) => {
        this.options.log.warn('outbox relay lost its lock connection', { error: error.message });
        this.state.leader = false;
        this.lockClient = undefined;
        client.end().catch(() => undefined);
      });
      // What is appended wakes the leader (migration OutboxNotify): no busy polling.
      client.on('notification', () => {
        if (this.state.leader) this.wake();
      });
      await client.connect();
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
      this.lockClient = client;
    }
    const { rows } = await this.lockClient.query<{ acquired: boolean }>(
      'SELECT pg_try_advisory_lock($1) AS acquired',
      [RELAY_LOCK],
    );
    if (rows[0].acquired && !this.state.leader) {
      this.options.log.info('outbox relay is the leader');
      this.mustReconcile = true;
    }
    this.state.leader = rows[0].acquired;
    return this.state.leader;
  }

  private async releaseLeadership(): Promise<void> {
    const client = this.lockClient;
    this.lockClient = undefined;
    this.state.leader = false;
    await client?.end().catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running || this.wokenWhileBusy) {
      this.wokenWhileBusy = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      // However the sleep ends, it stops listening: a wake-up after it counts for the next one.
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}
