import type { Consumer, ConsumerConfig, Kafka } from 'kafkajs';
import { within } from './within';

export interface SupervisedConsumerOptions {
  /** No fetch for this long (while not stopped) means the consumer hangs: it is replaced. */
  stallMs?: number;
  /** How often the watchdog looks. */
  checkMs?: number;
  log: {
    warn(message: string, extra: Record<string, unknown>): void;
    error(message: string, extra: Record<string, unknown>): void;
  };
}

/**
 * A Kafka consumer that keeps consuming. kafkajs gives a consumer up after an error it does not
 * deem retriable (a CRASH without restart), and a consumer can hang after a broker restart with no
 * error at all (kafkajs#659): it neither fetches nor crashes. Either way a fresh consumer of the
 * same group replaces it; what the old one handled but did not commit is handled again, as after
 * any rebalance. An idle consumer still fetches (every maxWaitTimeInMs), so silence means a hang;
 * a handler that runs longer than stallMs would look like one too: for consumers of short batches.
 */
export class SupervisedConsumer {
  private consumer: Consumer | undefined;
  private lastFetchAt = Date.now();
  /** When a consumer of the group last fetched: 0 before any did. */
  private fetchedAt = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private replacing: Promise<void> | undefined;
  /** Replaced consumers still disconnecting. */
  private readonly retiring = new Set<Promise<void>>();
  private stopped = false;
  private crash: string | null = null;
  private readonly stallMs: number;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: ConsumerConfig,
    /** Subscribes and runs a new consumer (called again for each replacement). */
    private readonly start: (consumer: Consumer) => Promise<void>,
    private readonly options: SupervisedConsumerOptions,
  ) {
    this.stallMs = options.stallMs ?? 30_000;
  }

  /**
   * Whether a consumer fetched (got an answer from the broker) in the last `ms`: while it did, what
   * it delivers is current; an idle one fetches every maxWaitTimeInMs.
   */
  fetchedWithin(ms: number): boolean {
    return Date.now() - this.fetchedAt < ms;
  }

  /** The last crash's error while no consumer has joined since; null when consuming. */
  get crashed(): string | null {
    return this.crash;
  }

  async run(): Promise<void> {
    await this.startOne();
    this.watchdog = setInterval(() => {
      const silentMs = Date.now() - this.lastFetchAt;
      if (silentMs > this.stallMs) this.replace(`no fetch for ${silentMs} ms`);
    }, this.options.checkMs ?? 5_000);
    this.watchdog.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    await this.replacing;
    await this.consumer?.disconnect();
    await within(10_000, Promise.all(this.retiring));
  }

  private async startOne(): Promise<void> {
    const consumer = this.kafka.consumer(this.config);
    this.consumer = consumer;
    consumer.on(consumer.events.FETCH, () => (this.lastFetchAt = this.fetchedAt = Date.now()));
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.lastFetchAt = Date.now();
      this.crash = null;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.crash = payload.error.message;
      if (payload.restart) {
        this.options.log.warn('consumer crashed; kafkajs restarts it', { error: this.crash });
      } else {
        this.replace(`crashed for good: ${this.crash}`);
      }
    });
    this.lastFetchAt = Date.now();
    await consumer.connect();
    await this.start(consumer);
  }

  private replace(reason: string): void {
    if (this.stopped || this.replacing) return;
    this.options.log.error('consumer replaced', { reason, groupId: this.config.groupId });
    const old = this.consumer;
    this.replacing = (async () => {
      if (old) {
        const disconnected = old.disconnect().catch(() => undefined);
        this.retiring.add(disconnected);
        void disconnected.finally(() => this.retiring.delete(disconnected));
        // A hung consumer may never finish disconnecting: it is let go after a while.
        await within(10_000, disconnected);
      }
      while (!this.stopped) {
        try {
          await this.startOne();
          return;
        } catch (error) {
          this.crash = (error as Error).message;
          this.options.log.warn('consumer could not start; trying again', { error: this.crash });
          await new Promise((resolve) => setTimeout(resolve, 2_000).unref());
        }
      }
    })().finally(() => (this.replacing = undefined));
  }
}
