import { type ExecutionContext, createParamDecorator } from '@nestjs/common';
import { ValidationError } from '@dolly/domain';
import type { AuthenticatedRequest, Principal } from '@dolly/platform';
import { v7 as uuidv7 } from 'uuid';

/** What a command needs to know about the request that carries it. */
export interface RequestContext {
  principal: Principal;
  correlationId: string;
  /** ISO 8601: the time the decision is taken, given to the domain (which has no clock). */
  now: string;
  idempotencyKey?: string;
  /** `Prefer: wait=N`: how long the client will wait for the change to be projected. */
  waitSeconds?: number;
  /** `If-Match: "<version>"`: the version the client decided against. */
  expectedVersion?: number;
  method: string;
  path: string;
  body: unknown;
}

export const MAX_WAIT_SECONDS = 60;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function preferWait(header: string | undefined): number | undefined {
  if (!header) return undefined;
  const match = /(?:^|[,;\s])wait\s*=\s*(\d+)/i.exec(header);
  return match ? Math.min(Number(match[1]), MAX_WAIT_SECONDS) : undefined;
}

function ifMatchVersion(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(header);
  if (!match) {
    throw new ValidationError(
      'REQUEST.BAD_IF_MATCH',
      'If-Match must be the quoted version from an ETag, like "3"',
      [
        {
          code: 'REQUEST.BAD_IF_MATCH',
          detail: `'${header}' is not an entity tag Dolly issued`,
          pointer: '/headers/if-match',
        },
      ],
    );
  }
  return Number(match[1]);
}

export function requestContext(request: AuthenticatedRequest): RequestContext {
  const key = request.header('idempotency-key');
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new ValidationError(
      'REQUEST.BAD_IDEMPOTENCY_KEY',
      'Idempotency-Key must be 1 to 255 visible ASCII characters',
      [
        {
          code: 'REQUEST.BAD_IDEMPOTENCY_KEY',
          detail: 'is not 1 to 255 visible ASCII characters',
          pointer: '/headers/idempotency-key',
        },
      ],
    );
  }
  return {
    principal: request.principal!,
    correlationId: typeof request.id === 'string' ? request.id : uuidv7(),
    now: new Date().toISOString(),
    idempotencyKey: key,
    waitSeconds: preferWait(request.header('prefer')),
    expectedVersion: ifMatchVersion(request.header('if-match')),
    method: request.method,
    path: request.originalUrl,
    body: request.body,
  };
}

/** `@Context() context: RequestContext` in a command endpoint. */
export const Context = createParamDecorator((_: unknown, execution: ExecutionContext) =>
  requestContext(execution.switchToHttp().getRequest<AuthenticatedRequest>()),
);

/** `@Caller() caller: Principal` in a query endpoint: who reads, for what the answer may show. */
export const Caller = createParamDecorator(
  (_: unknown, execution: ExecutionContext) =>
    execution.switchToHttp().getRequest<AuthenticatedRequest>().principal!,
);
