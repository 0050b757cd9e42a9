import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { DomainError, type DomainErrorKind, type ErrorReason } from '@dolly/domain';
import type { Request, Response } from 'express';
import { AuthenticationError } from './auth';

/**
 * RFC 9457 problem details: every error Dolly's HTTP edge answers with. `code` is stable and safe
 * to branch on; `errors` lists every reason at once (every bad field, every incompatibility).
 */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  errors?: ErrorReason[];
  correlationId?: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const STATUS_BY_KIND: Record<DomainErrorKind, number> = {
  validation: HttpStatus.BAD_REQUEST,
  'not-found': HttpStatus.NOT_FOUND,
  'illegal-state': HttpStatus.CONFLICT,
  'rule-violation': HttpStatus.UNPROCESSABLE_ENTITY,
  forbidden: HttpStatus.FORBIDDEN,
  concurrency: HttpStatus.CONFLICT,
};

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Unauthenticated',
  403: 'Forbidden',
  404: 'Not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Request body too large',
  415: 'Unsupported media type',
  422: 'Unprocessable request',
  429: 'Too many requests',
  500: 'Internal error',
  503: 'Service unavailable',
};

export function problemTypeUri(code: string): string {
  return `urn:dolly:problem:${code}`;
}

export function problem(
  status: number,
  code: string,
  detail: string,
  extra: Partial<ProblemDetails> = {},
): ProblemDetails {
  return {
    type: problemTypeUri(code),
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...extra,
  };
}

export function sendProblem(response: Response, request: Request, body: ProblemDetails): void {
  const correlationId = response.getHeader('x-correlation-id');
  response
    .status(body.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(
      JSON.stringify({
        ...body,
        instance: request.originalUrl,
        ...(correlationId ? { correlationId: String(correlationId) } : {}),
      }),
    );
}

/** Seconds a client is told to wait (Retry-After) when a part Dolly needs is away. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 2;

/**
 * A part Dolly needs (PostgreSQL, Kafka) cannot be reached just now: nothing was changed and the
 * same request may succeed shortly. Answered 503 with Retry-After; `code` names the part.
 */
export class UnavailableError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UnavailableError';
  }
}

/** Node's socket errors: the server could not be reached, or the connection broke. */
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** SQLSTATEs of a server going away or not taking sessions yet (class 08: connection exception). */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** What node-postgres throws, without a code, when its connection is gone or never came. */
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
];

/**
 * Whether an error says PostgreSQL is away (restarting, unreachable, refusing sessions), not that
 * the request or Dolly is wrong: the same request may succeed shortly. TypeORM wraps the driver's
 * error (driverError); causes are followed too.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 4) return false;
  const { code, message, driverError, cause } = error as {
    code?: unknown;
    message?: unknown;
    driverError?: unknown;
    cause?: unknown;
  };
  if (typeof code === 'string') {
    if (CONNECTION_ERRORS.has(code) || UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08'))
      return true;
  }
  if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((m) => message.startsWith(m)))
    return true;
  return isDatabaseUnavailable(driverError, depth + 1) || isDatabaseUnavailable(cause, depth + 1);
}

/**
 * Past a limit on what one caller (or everyone) may hold open or send: answered 429 with
 * Retry-After, the whole seconds after which trying again may succeed.
 */
export class TooManyRequestsError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** Maps any error to a problem. Knows error kinds, not the domain. */
export function toProblem(error: unknown): ProblemDetails {
  if (error instanceof DomainError) {
    return problem(
      STATUS_BY_KIND[error.kind],
      error.code,
      error.message,
      error.reasons.length ? { errors: [...error.reasons] } : {},
    );
  }
  if (error instanceof AuthenticationError) return problem(401, error.code, error.message);
  if (error instanceof TooManyRequestsError)
    return problem(429, error.code, error.message, { retryAfterSeconds: error.retryAfterSeconds });
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const code = status === 404 ? 'HTTP.ROUTE_NOT_FOUND' : `HTTP.${status}`;
    return problem(status, code, error.message);
  }
  if (error instanceof UnavailableError) return problem(503, error.code, error.message);
  if (isDatabaseUnavailable(error))
    return problem(
      503,
      'SERVICE.DATABASE_UNAVAILABLE',
      `PostgreSQL cannot be reached just now; nothing was changed. Try again in ${UNAVAILABLE_RETRY_AFTER_SECONDS} s`,
    );
  return problem(
    500,
    'INTERNAL',
    'Something went wrong on our side; the correlation id finds it in our logs',
  );
}

@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('ProblemFilter');

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request>();
    const body = toProblem(error);
    if (body.status >= 500)
      this.logger.error({ err: error, path: request.originalUrl }, 'request failed');
    if (body.status === 401) response.setHeader('WWW-Authenticate', 'Bearer');
    if (body.status === 503)
      response.setHeader('Retry-After', String(UNAVAILABLE_RETRY_AFTER_SECONDS));
    if (error instanceof TooManyRequestsError)
      response.setHeader('Retry-After', String(error.retryAfterSeconds));
    sendProblem(response, request, body);
  }
}
