import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { DollyConfig } from '@dolly/config';
import {
  type DeadLetter,
  DeadLetterPublisher,
  type TopicSpec,
  deadLetterTopicSpec,
} from '@dolly/messaging';
import type { Kafka } from 'kafkajs';
import { PinoLogger } from 'nestjs-pino';
import { HealthRegistry } from './health';
import { Metrics } from './metrics';
import { DOLLY_CONFIG, KAFKA } from './tokens';

/** How many of the latest dead letters /health lists. */
const SHOWN = 10;

export interface ShownDeadLetter {
  at: string;
  reason: string;
  detail: string;
  topic: string;
  partition: number;
  offset: string;
  consumer: string;
}

/**
 * Where an app's consumers put the messages they refuse: the dead-letter topic, a counter by
 * reason and source topic (`dolly_dead_letters_total`), a warning in the log, and `/health`'s
 * `dead-letters` check (how many since start, the latest few). That check stays up: a forger must
 * not be able to take a consumer out of service by sending it rubbish.
 */
@Injectable()
export class DeadLetters implements OnApplicationShutdown {
  readonly topic: TopicSpec;
  private readonly publisher: DeadLetterPublisher;
  private readonly counter;
  private refused = 0;
  private readonly latest: ShownDeadLetter[] = [];

  constructor(
    @Inject(KAFKA) kafka: Kafka,
    @Inject(DOLLY_CONFIG) config: DollyConfig,
    metrics: Metrics,
    health: HealthRegistry,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('dead-letters');
    this.topic = deadLetterTopicSpec(config.kafkaPrefix);
    this.publisher = new DeadLetterPublisher(kafka, config.kafkaPrefix);
    this.counter = metrics.counter(
      'dolly_dead_letters_total',
      'Consumed messages refused (forged, malformed, misaddressed) and put on the dead-letter topic',
      ['reason', 'topic'],
    );
    health.register('dead-letters', async () => ({
      status: 'up',
      details: { count: this.refused, last: [...this.latest] },
    }));
  }

  /**
   * Puts letters on the dead-letter topic. Call it before committing past the originals (a
   * crash in between writes a letter twice rather than never), and `count` once that commit is done.
   */
  async publish(consumer: string, letters: readonly DeadLetter[]): Promise<void> {
    await this.publisher.publish(letters, consumer);
  }

  /** Counts, logs and shows letters published for a batch whose handling is done. */
  count(consumer: string, letters: readonly DeadLetter[]): void {
    const at = new Date().toISOString();
    for (const { reason, detail, topic, partition, offset } of letters) {
      this.counter.inc({ reason, topic });
      this.refused += 1;
      this.latest.unshift({ at, reason, detail, topic, partition, offset, consumer });
      this.logger.warn({ reason, detail, topic, partition, offset, consumer }, 'dead-lettered');
    }
    this.latest.splice(SHOWN);
  }

  /** Publishes and counts at once, for consumers with nothing to commit in between. */
  async send(consumer: string, letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.publish(consumer, letters);
    this.count(consumer, letters);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.publisher.close();
  }
}
