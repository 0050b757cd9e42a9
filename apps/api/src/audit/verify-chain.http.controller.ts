import { readFileSync } from 'node:fs';
import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { type DollyConfig } from '@dolly/config';
import { type CheckpointKey, checkpointKey, verifyEventChain } from '@dolly/event-store';
import { DOLLY_CONFIG, PG_POOL, type Principal, Requires } from '@dolly/platform';
import type { Response } from 'express';
import type { Pool } from 'pg';
import { ApiOk, ApiProblems } from '../shared/openapi';
import { Caller } from '../shared/request-context';
import { WaitSlots } from '../shared/request-limits';
import {
  type ChainVerificationLine,
  ChainVerificationView,
} from './chain-verification.representation';

const NDJSON = 'application/x-ndjson';

/**
 * Verifies the whole event chain (libs/event-store/src/event-chain.ts) for an auditor: every
 * link, every event in its place, the signed checkpoints judged with the configured public keys.
 * Streamed as JSON lines when asked (progress, then the result), else one JSON answer at the
 * end; a caller that goes away stops the walk. Each walk holds one of the caller's wait slots.
 */
@ApiTags('audit')
@ApiBearerAuth()
@Controller('audit')
export class VerifyChainController {
  private readonly keys: CheckpointKey[];

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(DOLLY_CONFIG) config: DollyConfig,
    private readonly slots: WaitSlots,
  ) {
    this.keys = [
      ...config.auditPublicKeyFiles.map((file) => checkpointKey(readFileSync(file, 'utf8'))),
      ...(config.auditSigningKey ? [checkpointKey(config.auditSigningKey)] : []),
    ];
  }

  @Get('chain')
  @Requires('audit:verify')
  @ApiOperation({
    summary:
      'Verify the tamper-evident history: every event against its stream and global hash chains, the first broken link named, signed checkpoints judged. ' +
      `With Accept: ${NDJSON}, progress lines ({"linksVerified","linksTotal"}) come first and the result ({"result": ...}) last.`,
  })
  @ApiOk(ChainVerificationView)
  @ApiProblems(429)
  async verify(
    @Caller() caller: Principal,
    @Headers('accept') accept: string | undefined,
    @Res() response: Response,
  ): Promise<void> {
    const release = this.slots.take(caller);
    const gone = new AbortController();
    response.on('close', () => gone.abort(new Error('The caller went away')));
    const streamed = accept?.includes(NDJSON) ?? false;
    const line = (value: ChainVerificationLine) => `${JSON.stringify(value)}\n`;
    try {
      if (streamed) response.status(200).type(NDJSON).flushHeaders();
      const result: ChainVerificationView = await verifyEventChain(this.pool, {
        keys: this.keys,
        signal: gone.signal,
        onProgress: (linksVerified, linksTotal) => {
          if (streamed) response.write(line({ linksVerified, linksTotal }));
        },
      });
      if (streamed) response.end(line({ result }));
      else response.status(200).json(result);
    } catch (error) {
      if (gone.signal.aborted) return;
      if (!streamed) throw error;
      response.end(line({ error: { detail: (error as Error).message } }));
    } finally {
      release();
    }
  }
}
