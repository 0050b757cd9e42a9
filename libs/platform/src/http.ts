import type { INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { type NextFunction, type Request, type Response } from 'express';
import { type DollyConfig, loadConfig } from '@dolly/config';
import { SchemaNotReadyError, requireMigratedSchema } from '@dolly/persistence';
import { Logger } from 'nestjs-pino';
import { Metrics } from './metrics';
import { problem, sendProblem } from './problem';

/** Commands are small: a larger body is a mistake or an attack. */
export const MAX_BODY_BYTES = 64 * 1024;

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Bodies must say they are JSON; anything else is refused before it is parsed. */
function requireJson(request: Request, response: Response, next: NextFunction): void {
  const hasBody =
    Number(request.headers['content-length'] ?? 0) > 0 ||
    request.headers['transfer-encoding'] !== undefined;
  if (
    BODY_METHODS.has(request.method) &&
    hasBody &&
    !request.is(['application/json', 'application/*+json'])
  ) {
    sendProblem(
      response,
      request,
      problem(
        415,
        'REQUEST.UNSUPPORTED_MEDIA_TYPE',
        `Send JSON (Content-Type: application/json), not ${request.headers['content-type'] ?? 'nothing'}`,
      ),
    );
    return;
  }
  next();
}

/** body-parser's own errors (bad JSON, too large) become problems too. */
function bodyErrors(
  error: { type?: string; status?: number; message?: string },
  request: Request,
  response: Response,
  next: NextFunction,
): void {
  if (error.type === 'entity.too.large') {
    sendProblem(
      response,
      request,
      problem(413, 'REQUEST.TOO_LARGE', `Request bodies are limited to ${MAX_BODY_BYTES} bytes`),
    );
  } else if (error.type === 'entity.parse.failed') {
    sendProblem(
      response,
      request,
      problem(400, 'REQUEST.MALFORMED_JSON', `The body is not valid JSON: ${error.message}`),
    );
  } else if (error.status && error.status < 500) {
    sendProblem(
      response,
      request,
      problem(error.status, `HTTP.${error.status}`, error.message ?? 'Bad request'),
    );
  } else {
    next(error);
  }
}

export interface HttpAppOptions {
  /**
   * Paths (prefixes) whose request bodies their controllers read as streams (a package's bytes):
   * neither refused for not being JSON nor parsed, so never buffered.
   */
  streamedBodyPaths?: string[];
}

/** Creates a Dolly HTTP app with the platform's logger, body handling and graceful shutdown. */
export async function createHttpApp(
  module: Type<unknown>,
  options: HttpAppOptions = {},
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, {
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.disable('x-powered-by');
  const requestSeconds = app
    .get(Metrics)
    .histogram(
      'dolly_http_request_duration_seconds',
      'HTTP requests, from arrival to response sent',
      ['method', 'route', 'status'],
    );
  app.use((request: Request, response: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    response.once('finish', () => {
      const route = (request.route as { path?: string } | undefined)?.path ?? 'unmatched';
      requestSeconds.observe(
        { method: request.method, route, status: String(response.statusCode) },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    });
    next();
  });
  const streamed = options.streamedBodyPaths ?? [];
  const unlessStreamed =
    (handler: (request: Request, response: Response, next: NextFunction) => void) =>
    (request: Request, response: Response, next: NextFunction) =>
      streamed.some((prefix) => request.path.startsWith(prefix))
        ? next()
        : handler(request, response, next);
  app.use(unlessStreamed(requireJson));
  app.use(
    unlessStreamed(
      express.json({
        limit: MAX_BODY_BYTES,
        type: ['application/json', 'application/*+json'],
        strict: false,
      }),
    ),
  );
  app.use(bodyErrors);
  app.enableShutdownHooks();
  return app;
}

export async function listen(
  app: INestApplication,
  port: number,
  service: string,
): Promise<string> {
  await app.listen(port, '0.0.0.0');
  const address = app.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${address.port}`;
  // Said whatever the log level: operators and the test harness learn the address from it.
  const docs = service === 'api' ? ` (docs: ${url}/docs)` : '';
  process.stdout.write(
    `${JSON.stringify({ level: 'info', service: `dolly-${service}`, message: `dolly-${service} listening on ${url}${docs}` })}\n`,
  );
  return url;
}

/**
 * Starts a Dolly app: checks that the database is migrated to what this build needs (apps never
 * migrate: `npm run migrate` does, as the owner), creates the HTTP app, lets the caller add to it,
 * listens, and exits with one JSON line if any of it fails.
 */
export function runService(
  service: 'api' | 'projector' | 'worker',
  module: Type<unknown>,
  port: (config: DollyConfig) => number,
  configure?: (app: NestExpressApplication) => void,
  options: HttpAppOptions = {},
): void {
  (async () => {
    const config = loadConfig();
    const connected = await requireMigratedSchema(config.databaseUrl);
    if (connected.superuser)
      process.stdout.write(
        `${JSON.stringify({ level: 'warn', service: `dolly-${service}`, message: `connected to PostgreSQL as ${connected.role}, a superuser: connect as a member of dolly_${service} (README: PostgreSQL roles)` })}\n`,
      );
    const app = await createHttpApp(module, options);
    configure?.(app);
    await listen(app, port(config), service);
  })().catch((error: unknown) => {
    console.error(
      JSON.stringify({
        level: 'fatal',
        service: `dolly-${service}`,
        // An expected refusal is said in one line; anything else with where it came from.
        message:
          error instanceof SchemaNotReadyError
            ? error.message
            : String((error as Error)?.stack ?? error),
      }),
    );
    process.exit(1);
  });
}
