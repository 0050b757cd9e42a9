import { EVENT_TOPIC_PARTITIONS, readEventMessage } from '@dolly/contracts';
import { type StopReason, type TaskState, stopReason, taskStreamId } from '@dolly/domain';

export { type StopReason, stopReason };
import { SupervisedConsumer, type SupervisedConsumerOptions } from '@dolly/messaging';
import type { EachMessagePayload, Kafka } from 'kafkajs';

/** How often the watch looks for attempts to check against the store (see `due`). */
const TICK_MS = 500;
/**
 * How long after its last fetch the watch's consumer still counts as reading the topic. It fetches
 * at least every `FETCH_WAIT_MS` while the broker answers: longer without one, the broker is gone
 * (or the consumer hangs, kafkajs#659, until `SupervisedConsumer` replaces it), and the attempts
 * are checked against the store meanwhile.
 */
const FETCH_WAIT_MS = 500;
const READING_WITHIN_MS = 3_000;
/**
 * While the topic brings news, a running attempt is still checked against the store this often:
 * the news passes through the relay (another process, the projector's), which may be down while
 * the broker answers. The bound on how long a cancelled attempt runs when nothing else tells.
 */
const BACKSTOP_MS = 5_000;

export interface AttemptWatchOptions {
  topic: string;
  kafkaPrefix: string;
  groupId: string;
  /** The task as the store holds it now: what decides whether an attempt stops. */
  readTask(taskId: string): Promise<TaskState>;
  log: SupervisedConsumerOptions['log'];
}

/** One attempt of a task this worker runs, from before it starts to its end. */
export interface WatchedTask {
  /** The attempt started: from now on it is stopped (aborted with a `StopReason`) when it must. */
  running(attempt: number, controller: AbortController): void;
  /** The attempt ended (or never started): no longer watched. */
  end(): void;
}

interface Watched {
  taskId: string;
  /** The newest attempt whose TaskStarted came through the topic. */
  startedSeen: number;
  /** News of the task came before its attempt was known: the store is asked once it is. */
  newsPending: boolean;
  attempt?: { number: number; controller: AbortController; checkedAt: number };
  checking: boolean;
  askAgain: boolean;
}

/**
 * Stops an attempt this worker runs when someone asked to cancel its task or a newer attempt took
 * it over. The task topic tells when (TaskCancelRequested, TaskStarted...); the store says what:
 * a message about a watched task makes the watch read the task, so a forged message can stop
 * nothing that the store does not say must stop.
 *
 * The topic is trusted to tell only while it demonstrably does: once the attempt's own TaskStarted
 * came through it (what follows in the store follows on its partition), and while the consumer
 * fetches. Otherwise (the attempt just started, the relay or the broker is behind or down) the
 * attempt is checked against the store every `TICK_MS`, as often as the topic would tell; and
 * every `BACKSTOP_MS` in any case, for a relay that stopped after.
 */
export class AttemptWatch {
  private consumer: SupervisedConsumer | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** By stream id (the topic's key); a task run twice at once by this worker is watched twice. */
  private readonly watched = new Map<string, Set<Watched>>();

  constructor(
    private readonly kafka: Kafka,
    private readonly options: AttemptWatchOptions,
  ) {}

  /**
   * Reads the task topic in a group of its own, so every partition; from where it stopped last
   * time, or the topic's end for a first start (nothing older concerns attempts not started yet).
   */
  async start(): Promise<void> {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    const { topic, groupId, log } = this.options;
    this.consumer = new SupervisedConsumer(
      this.kafka,
      {
        groupId,
        sessionTimeout: 10_000,
        heartbeatInterval: 1_000,
        maxWaitTimeInMs: FETCH_WAIT_MS,
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 5_000 },
      },
      async (consumer) => {
        await consumer.subscribe({ topics: [topic], fromBeginning: false });
        await consumer.run({
          partitionsConsumedConcurrently: EVENT_TOPIC_PARTITIONS,
          eachMessage: (payload) => this.onMessage(payload),
        });
      },
      { log },
    );
    await this.consumer.run();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.consumer?.stop().catch(() => undefined);
  }

  /** Called before the attempt is started, so that no news of it passes unseen. */
  follow(taskId: string): WatchedTask {
    const streamId = taskStreamId(taskId);
    const entry: Watched = {
      taskId,
      startedSeen: 0,
      newsPending: false,
      checking: false,
      askAgain: false,
    };
    const same = this.watched.get(streamId) ?? new Set();
    same.add(entry);
    this.watched.set(streamId, same);
    return {
      running: (number, controller) => {
        entry.attempt = { number, controller, checkedAt: Date.now() };
        if (entry.newsPending || entry.startedSeen > number) void this.check(entry);
      },
      end: () => {
        same.delete(entry);
        if (same.size === 0 && this.watched.get(streamId) === same) this.watched.delete(streamId);
      },
    };
  }

  private async onMessage({ topic, message }: EachMessagePayload): Promise<void> {
    const watching = this.watched.get(message.key?.toString() ?? '');
    if (!watching) return;
    const read = readEventMessage(message, topic, this.options.kafkaPrefix);
    if (!read.ok) return;
    const event = read.value;
    const startedAttempt =
      event.type === 'TaskStarted' ? (event.data as { attempt: number }).attempt : undefined;
    for (const entry of watching) {
      if (startedAttempt !== undefined)
        entry.startedSeen = Math.max(entry.startedSeen, startedAttempt);
      // Its own start is no news to an attempt.
      if (entry.attempt && startedAttempt === entry.attempt.number) continue;
      // Before its attempt is known, a start is told apart from its own once it is (`running`).
      if (!entry.attempt) entry.newsPending ||= startedAttempt === undefined;
      else await this.check(entry);
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const same of this.watched.values())
      for (const entry of same) if (!entry.checking && this.due(entry, now)) void this.check(entry);
  }

  private due(entry: Watched, now: number): boolean {
    if (!entry.attempt) return false;
    const told = entry.startedSeen >= entry.attempt.number && this.reading();
    return !told || now - entry.attempt.checkedAt >= BACKSTOP_MS;
  }

  private reading(): boolean {
    return this.consumer?.fetchedWithin(READING_WITHIN_MS) ?? false;
  }

  /** Asks the store; news arriving while it asks makes it ask again (the answer may predate it). */
  private async check(entry: Watched): Promise<void> {
    const attempt = entry.attempt;
    if (!attempt) return;
    if (entry.checking) {
      entry.askAgain = true;
      return;
    }
    entry.checking = true;
    try {
      do {
        entry.askAgain = false;
        if (attempt.controller.signal.aborted) return;
        attempt.checkedAt = Date.now();
        try {
          const stop = stopReason(await this.options.readTask(entry.taskId), attempt.number);
          if (stop) attempt.controller.abort(stop);
        } catch {
          // The next tick asks again.
          attempt.checkedAt = 0;
        }
      } while (entry.askAgain);
    } finally {
      entry.checking = false;
    }
  }
}
