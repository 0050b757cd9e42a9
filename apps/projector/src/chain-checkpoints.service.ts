import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { type DollyConfig } from '@dolly/config';
import { checkpointKey, signChainCheckpoint } from '@dolly/event-store';
import { DOLLY_CONFIG, PG_POOL } from '@dolly/platform';
import { PinoLogger } from 'nestjs-pino';
import type { Pool } from 'pg';

/**
 * Signs the head of the event chain every DOLLY_AUDIT_CHECKPOINT_SECONDS, when it moved, with the
 * operator's Ed25519 key (DOLLY_AUDIT_SIGNING_KEY): an auditor holding the public key can then
 * tell a history rewritten whole, every hash recomputed, from the one that was signed. Without a
 * key, nothing is signed. A key that is not Ed25519 stops the projector at start, saying so.
 */
@Injectable()
export class ChainCheckpoints implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private signing: Promise<void> | undefined;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) private readonly config: DollyConfig,
    private readonly logger: PinoLogger,
  ) {
    this.logger.setContext('chain-checkpoints');
  }

  onApplicationBootstrap(): void {
    const key = this.config.auditSigningKey;
    if (!key) return;
    const { keyId } = checkpointKey(key);
    this.logger.info({ keyId }, 'signing checkpoints of the event chain');
    this.timer = setInterval(() => {
      this.signing ??= this.sign(key).finally(() => (this.signing = undefined));
    }, this.config.auditCheckpointSeconds * 1000);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.signing;
  }

  private async sign(key: string): Promise<void> {
    try {
      const chainSeq = await signChainCheckpoint(this.pool, key);
      if (chainSeq) this.logger.debug({ chainSeq }, 'signed the event chain');
    } catch (error) {
      // PostgreSQL away: the next round signs the head as it is then.
      this.logger.warn({ error: (error as Error).message }, 'could not sign the event chain');
    }
  }
}
