import { Controller, Get, HttpStatus, Injectable, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public, Requires } from './auth';

export interface HealthCheckResult {
  /** degraded: serving, but part of it is not (an inaccessible datastore): answered 200. */
  status: 'up' | 'degraded' | 'down';
  /** Why, or what was measured (lag...). */
  details?: Record<string, unknown>;
}

export type HealthCheck = () => Promise<HealthCheckResult>;

/** Each part of an app registers how to check itself; /health runs them all. */
@Injectable()
export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheck>();

  register(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }

  async run(
    timeoutMs = 3000,
  ): Promise<{ status: 'up' | 'degraded' | 'down'; checks: Record<string, HealthCheckResult> }> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        const timeout = new Promise<HealthCheckResult>((resolve) =>
          setTimeout(
            () =>
              resolve({ status: 'down', details: { error: `no answer within ${timeoutMs} ms` } }),
            timeoutMs,
          ).unref(),
        );
        const result = await Promise.race([
          check().catch((error: Error): HealthCheckResult => ({
            status: 'down',
            details: { error: error.message },
          })),
          timeout,
        ]);
        return [name, result] as const;
      }),
    );
    const checks = Object.fromEntries(entries);
    const status = entries.some(([, result]) => result.status === 'down')
      ? 'down'
      : entries.some(([, result]) => result.status === 'degraded')
        ? 'degraded'
        : 'up';
    return { status, checks };
  }
}

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(private readonly registry: HealthRegistry) {}

  @Get()
  @Requires('operations:read')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Readiness: Kafka, PostgreSQL and lags. 503 when any part is down.' })
  async health(@Res() response: Response): Promise<void> {
    const report = await this.registry.run();
    response
      .status(report.status === 'down' ? HttpStatus.SERVICE_UNAVAILABLE : HttpStatus.OK)
      .json(report);
  }

  /** Liveness tells nothing about the system, so probes need no token for it. */
  @Get('live')
  @Public()
  @ApiOperation({ summary: 'Liveness: the process answers.' })
  live(): { status: 'up' } {
    return { status: 'up' };
  }
}
