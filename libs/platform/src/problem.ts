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
    if (error instanceof TooManyRequestsError)
      response.setHeader('Retry-After', String(error.retryAfterSeconds));
    sendProblem(response, request, body);
  }
}
