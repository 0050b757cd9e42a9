import { type RecordedEvent, kafkaMessageBytes, toKafkaMessage } from '@dolly/contracts';
import type { EventPublisher } from '@dolly/messaging';
import { doublingPause } from '@dolly/domain';
import { Client, type Pool } from 'pg';
import { type Queryable, rowToEvent } from './event-store';

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
  /**
   * At most this many bytes (as Kafka messages) per batch, so that no partition's share of a batch
   * is larger than the broker takes; one event larger than this still goes, alone.
   */
  maxBatchBytes?: number;
  /** Told of each event the broker refused as too large: it is left out of Kafka, not retried. */
  onSkipped?: (event: RecordedEvent) => void;
  /** How long committed events may wait behind an open transaction before the relay names it. */
  heldBackWarningMs?: number;
  /** Told how long committed events have waited behind an open transaction (0: none). */
  onHeldBack?: (seconds: number) => void;
}

/** The transaction that keeps committed events from being published (pg_stat_activity). */
export interface HoldingTransaction {
  pid: number | null;
  applicationName: string | null;
  database: string | null;
  state: string | null;
  /** Since the transaction started. */
  ageSeconds: number | null;
  /** A prepared transaction (PREPARE TRANSACTION) has no session: its global id. */
  preparedAs?: string;
}

export interface HeldBack {
  /** How long the oldest committed event has waited behind it. */
  seconds: number;
  /** Null: not known (no session with a transaction id is visible: pg_read_all_stats is missing). */
  holder: HoldingTransaction | null;
}

export interface RelayStatus {
  leader: boolean;
  publishedEvents: number;
  consecutiveFailures: number;
  lastError: string | null;
  skippedEvents: number;
  /** Committed events wait behind an open transaction longer than the warning threshold. */
  heldBack: HeldBack | null;
}

/** Only one relay publishes at a time (per database): the holder of this advisory lock. */
const RELAY_LOCK = 0x72656c6179; // "relay"
/** Notified at the commit of whatever adds to the outbox (migration OutboxNotify). */
const OUTBOX_CHANNEL = 'dolly_outbox';
/** How soon to look again for events held back behind an older open transaction. */
const HELD_BACK_POLL_MS = 10;
/** How often to measure how long events have been held back (and by whom) while they are. */
const HELD_BACK_CHECK_MS = 1000;

// Committed events the global order cannot reach yet: an older transaction is still open.
const HELD_BACK_SQL = `
  SELECT extract(epoch FROM clock_timestamp() - min(o.enqueued_at))::float8 AS seconds
    FROM event_store.outbox o
   WHERE o.transaction_id >= pg_snapshot_xmin(pg_current_snapshot())
     AND pg_xact_status(o.transaction_id) = 'committed'`;

// The snapshot's xmin is the oldest transaction id still running: the session (in any database)
// holding the oldest one, or else a prepared transaction.
const HOLDER_SQL = `
  SELECT pid, application_name, datname, state,
         extract(epoch FROM clock_timestamp() - xact_start)::float8 AS age_seconds, NULL AS gid
    FROM pg_stat_activity
   WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
  UNION ALL
  SELECT NULL, NULL, database, 'prepared', extract(epoch FROM clock_timestamp() - prepared)::float8, gid
    FROM pg_prepared_xacts
   ORDER BY age_seconds DESC NULLS LAST
   LIMIT 1`;

/** Events waiting in the outbox for the relay, and how long the oldest has waited (0: none). */
export async function outboxBacklog(
  db: Queryable,
): Promise<{ waiting: number; oldestWaitingSeconds: number }> {
  const { rows } = await db.query<{ waiting: number; oldest_seconds: number | null }>(
    `SELECT count(*)::int AS waiting, extract(epoch FROM now() - min(enqueued_at))::float AS oldest_seconds
       FROM event_store.outbox`,
  );
  return { waiting: rows[0].waiting, oldestWaitingSeconds: rows[0].oldest_seconds ?? 0 };
}

/** Whether Kafka refused a send because a message (or a partition's batch) is too large. */
export function refusedAsTooLarge(error: unknown): boolean {
  const seen = new Set<unknown>();
  const look = (e: unknown): boolean => {
    if (!e || typeof e !== 'object' || seen.has(e)) return false;
    seen.add(e);
    const { type, message, cause, originalError, errors } = e as {
      type?: string;
      message?: string;
      cause?: unknown;
      originalError?: unknown;
      errors?: unknown[];
    };
    if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE') return true;
    if (/larger than the max message size|message size too large/i.test(message ?? '')) return true;
    return look(cause) || look(originalError) || (errors ?? []).some(look);
  };
  return look(error);
}

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
    skippedEvents: 0,
    heldBack: null,
  };
  private readonly batchSize: number;
  private readonly maxBatchBytes: number;
  private readonly heldBackWarningMs: number;
  private lastHeldBackCheck = 0;
  /** The holder last warned about, so that each is named once. */
  private warnedHolder: string | undefined;
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
    this.maxBatchBytes = options.maxBatchBytes ?? 1_000_000;
    this.heldBackWarningMs = options.heldBackWarningMs ?? 30_000;
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
    return { ...this.state, heldBack: this.state.heldBack && { ...this.state.heldBack } };
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
        const backoff = doublingPause(this.state.consecutiveFailures - 1, 200, this.maxBackoffMs);
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
    const { rows: fetched } = await this.pool.query(NEXT_BATCH_SQL, [this.batchSize]);
    if (fetched.length === 0) {
      this.mustReconcile = false;
      return 0;
    }
    // Bounded by bytes too: at least one event, then as many as fit.
    let bytes = 0;
    const rows = fetched.filter((row: Parameters<typeof rowToEvent>[0], index: number) => {
      bytes += kafkaMessageBytes(toKafkaMessage(rowToEvent(row)));
      return index === 0 || bytes <= this.maxBatchBytes;
    });
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
    let published = toSend;
    try {
      await this.bounded('sending', this.publisher.publish(toSend));
    } catch (error) {
      if (!refusedAsTooLarge(error)) throw error;
      published = await this.publishOneByOne(toSend);
    }
    await this.pool.query(
      'DELETE FROM event_store.outbox WHERE global_position = ANY($1::bigint[])',
      [batch.map((event) => event.globalPosition)],
    );
    this.mustReconcile = false;
    this.state.publishedEvents += published.length;
    const now = Date.now();
    this.options.onPublished?.(
      published,
      rows.map((row: { enqueued_at: Date }) => (now - row.enqueued_at.getTime()) / 1000),
    );
    return batch.length;
  }

  /**
   * After the broker refused a batch as too large: each event on its own, in order, leaving out
   * (with an error naming it) those the broker refuses. A refused event stays in the store; the
   * relay is never stuck on it.
   */
  private async publishOneByOne(events: readonly RecordedEvent[]): Promise<RecordedEvent[]> {
    await this.publisher.reset();
    const remaining = await this.publisher.unpublished(events);
    const published: RecordedEvent[] = [];
    for (const event of remaining) {
      try {
        await this.bounded('sending', this.publisher.publish([event]));
        published.push(event);
      } catch (error) {
        if (!refusedAsTooLarge(error)) throw error;
        await this.publisher.reset();
        this.state.skippedEvents += 1;
        this.options.log.error('outbox relay skipped an event the broker refused as too large', {
          eventId: event.eventId,
          type: event.type,
          streamId: event.streamId,
          streamVersion: event.streamVersion,
          globalPosition: event.globalPosition,
          bytes: kafkaMessageBytes(toKafkaMessage(event)),
          error: (error as Error).message,
        });
        this.options.onSkipped?.(event);
      }
    }
    return published;
  }

  /**
   * Whether events wait in the outbox behind an older transaction still open (any transaction of
   * the cluster, which does not notify when it ends): they are looked for again shortly. Past the
   * warning threshold the relay names the transaction that holds it back, once per transaction.
   */
  private async heldBack(): Promise<boolean> {
    const { rows } = await this.pool.query<{ waiting: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM event_store.outbox) AS waiting',
    );
    const waiting = rows[0].waiting;
    if (!waiting) this.noLongerHeldBack();
    else if (Date.now() - this.lastHeldBackCheck >= HELD_BACK_CHECK_MS) {
      this.lastHeldBackCheck = Date.now();
      await this.measureHeldBack();
    }
    return waiting;
  }

  private async measureHeldBack(): Promise<void> {
    const { rows } = await this.pool.query<{ seconds: number | null }>(HELD_BACK_SQL);
    const seconds = rows[0].seconds ?? 0;
    this.options.onHeldBack?.(seconds);
    if (seconds * 1000 < this.heldBackWarningMs) {
      this.noLongerHeldBack(seconds > 0);
      return;
    }
    const holder = await this.holder();
    this.state.heldBack = { seconds, holder };
    const key = holder ? `${holder.pid ?? holder.preparedAs}:${holder.database}` : 'unknown';
    if (key !== this.warnedHolder) {
      this.warnedHolder = key;
      this.options.log.warn(
        holder
          ? 'outbox relay held back: committed events wait for an older transaction still open'
          : 'outbox relay held back by a transaction it cannot see (grant pg_read_all_stats)',
        { heldBackSeconds: Math.round(seconds), holder },
      );
    }
  }

  private async holder(): Promise<HoldingTransaction | null> {
    const { rows } = await this.pool.query<{
      pid: number | null;
      application_name: string | null;
      datname: string | null;
      state: string | null;
      age_seconds: number | null;
      gid: string | null;
    }>(HOLDER_SQL);
    const row = rows[0];
    if (!row) return null;
    return {
      pid: row.pid,
      applicationName: row.application_name,
      database: row.datname,
      state: row.state,
      ageSeconds: row.age_seconds === null ? null : Math.round(row.age_seconds),
      ...(row.gid === null ? {} : { preparedAs: row.gid }),
    };
  }

  private noLongerHeldBack(stillWaiting = false): void {
    if (!stillWaiting) this.options.onHeldBack?.(0);
    if (this.state.heldBack) {
      this.options.log.info('outbox relay no longer held back', {
        heldBackSeconds: Math.round(this.state.heldBack.seconds),
      });
    }
    this.state.heldBack = null;
    this.warnedHolder = undefined;
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
