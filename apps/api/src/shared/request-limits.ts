import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { type ApiLimits, type DollyConfig } from '@dolly/config';
import {
  type AuthenticatedRequest,
  DOLLY_CONFIG,
  Metrics,
  type Principal,
  TooManyRequestsError,
} from '@dolly/platform';
import type { Counter, Gauge } from 'prom-client';
import type { Observable } from 'rxjs';

const refusedRequests = (metrics: Metrics) =>
  metrics.counter(
    'dolly_api_refused_requests_total',
    'Requests answered 429, by the limit they met',
    ['limit'],
  );

/** A refused wait may try again this soon: streams and waits end all the time. */
export const WAIT_RETRY_AFTER_SECONDS = 2;

/**
 * Open progress streams and `Prefer: wait` requests: each holds a connection and a place in the
 * projection waiter, so each principal may hold so many, and everyone together so many more.
 */
@Injectable()
export class WaitSlots {
  private readonly byPrincipal = new Map<string, number>();
  private total = 0;
  private readonly open: Gauge;
  private readonly refused: Counter;
  private readonly limits: ApiLimits;

  constructor(@Inject(DOLLY_CONFIG) config: DollyConfig, metrics: Metrics) {
    this.limits = config.apiLimits;
    this.open = metrics.gauge(
      'dolly_api_open_waits',
      'Progress streams and Prefer: wait requests open now',
    );
    this.refused = refusedRequests(metrics);
  }

  /** Takes a slot for the principal, or refuses (429); the answer frees it, once. */
  take(principal: Principal): () => void {
    const held = this.byPrincipal.get(principal.id) ?? 0;
    if (held >= this.limits.maxWaitsPerPrincipal) {
      this.refused.inc({ limit: 'waits-per-principal' });
      throw new TooManyRequestsError(
        'LIMIT.WAITS_PER_PRINCIPAL',
        `${principal.id} already holds ${held} progress streams and waiting requests open, the most one caller may (DOLLY_API_MAX_WAITS_PER_PRINCIPAL); close one, or poll the task`,
        WAIT_RETRY_AFTER_SECONDS,
      );
    }
    if (this.total >= this.limits.maxWaits) {
      this.refused.inc({ limit: 'waits' });
      throw new TooManyRequestsError(
        'LIMIT.WAITS',
        `The API holds ${this.total} progress streams and waiting requests open, the most it serves at once (DOLLY_API_MAX_WAITS); try again shortly, or poll the task`,
        WAIT_RETRY_AFTER_SECONDS,
      );
    }
    this.byPrincipal.set(principal.id, held + 1);
    this.total++;
    this.open.inc();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.byPrincipal.get(principal.id) ?? 1) - 1;
      if (left > 0) this.byPrincipal.set(principal.id, left);
      else this.byPrincipal.delete(principal.id);
      this.total--;
      this.open.dec();
    };
  }
}

/**
 * A token bucket: `burst` tokens at most, refilled at `perSecond`; each command takes one. Time is
 * given (milliseconds), so the arithmetic is checked without a clock.
 */
export class TokenBucket {
  private tokens: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private at: number,
  ) {
    this.tokens = burst;
  }

  /** 0 when a token was taken; otherwise the whole seconds until one will be there. */
  take(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.tokens) / this.perSecond));
  }
}

const COMMAND_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Every command (a POST, PUT, PATCH or DELETE of a caller with a token) spends a token of its
 * principal's bucket; an empty bucket answers 429 with Retry-After, before anything is decided.
 */
@Injectable()
export class CommandRateLimit implements NestInterceptor {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly refused: Counter;
  private readonly limits: ApiLimits;

  constructor(@Inject(DOLLY_CONFIG) config: DollyConfig, metrics: Metrics) {
    this.limits = config.apiLimits;
    this.refused = refusedRequests(metrics);
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const principal = request.principal;
    if (principal && COMMAND_METHODS.has(request.method) && this.limits.commandsPerSecond > 0) {
      const now = Date.now();
      let bucket = this.buckets.get(principal.id);
      if (!bucket) {
        bucket = new TokenBucket(this.limits.commandsPerSecond, this.limits.commandBurst, now);
        this.buckets.set(principal.id, bucket);
      }
      const retryAfter = bucket.take(now);
      if (retryAfter > 0) {
        this.refused.inc({ limit: 'commands-per-second' });
        throw new TooManyRequestsError(
          'LIMIT.COMMAND_RATE',
          `${principal.id} sends commands faster than ${this.limits.commandsPerSecond} a second (bursts of ${this.limits.commandBurst}; DOLLY_API_COMMANDS_PER_SECOND, DOLLY_API_COMMAND_BURST): nothing was done, send it again after Retry-After`,
          retryAfter,
        );
      }
    }
    return next.handle();
  }
}
