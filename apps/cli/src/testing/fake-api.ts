import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROBLEM_CONTENT_TYPE, problem } from '@dolly/platform';
import type { Problem } from '../../../api/src/shared/problem.representation';
import type { TaskView } from '../../../api/src/tasks/task.representation';
import { representationOf, violationsOf } from './api-representations';

export * from './api-fixtures';

/**
 * A stand-in for Dolly's HTTP API in the CLI's tests: a real HTTP server on the loopback that
 * answers the routes a test gives it, in the API's shapes (202 answers, problem+json, a task's
 * server-sent events), and records every request. Every answer is checked against the API's own
 * representation schemas: one the API would not give fails the test when the fake closes.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export type Handler = (request: RecordedRequest, response: ServerResponse) => void;

/** The request each open response answers, and the fake that received it. */
const answering = new WeakMap<ServerResponse, { api: FakeApi; request: RecordedRequest }>();

export class FakeApi {
  readonly requests: RecordedRequest[] = [];
  /** Answers the API would not have given, as `METHOD path: where what`. */
  readonly contractViolations: string[] = [];
  private readonly routes = new Map<string, Handler>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeApi> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const api = new FakeApi(server, `http://127.0.0.1:${port}`);
    server.on('request', (request, response) => {
      let text = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (text += chunk));
      request.on('end', () => {
        const recorded: RecordedRequest = {
          method: request.method ?? 'GET',
          path: request.url ?? '/',
          headers: request.headers,
          body: text ? JSON.parse(text) : undefined,
        };
        api.requests.push(recorded);
        answering.set(response, { api, request: recorded });
        const handler = api.routes.get(`${recorded.method} ${recorded.path}`);
        if (handler) handler(recorded, response);
        else sendProblem(response, { status: 404, code: 'NOT_FOUND', detail: 'No such route.' });
      });
    });
    return api;
  }

  /** Answers `METHOD path` with the handler (the latest one given wins). */
  on(method: string, path: string, handler: Handler): this {
    this.routes.set(`${method} ${path}`, handler);
    return this;
  }

  requestsTo(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  /** Stops the server; throws if it answered anything the API would not have. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
    if (this.contractViolations.length)
      throw new Error(
        `The fake API answered what Dolly's API would not (see apps/api's representations):\n${this.contractViolations.join('\n')}`,
      );
  }
}

/** Records where `body`, answered with `status`, is not what the API answers there. */
function checkAnswer(response: ServerResponse, status: number, body: unknown): void {
  const answered = answering.get(response);
  if (!answered) return;
  const { api, request } = answered;
  const route = `${request.method} ${request.path}`;
  try {
    const schema = representationOf(request.method, request.path, status);
    for (const violation of violationsOf(schema, body))
      api.contractViolations.push(`${route} ${status}: ${violation}`);
  } catch (error) {
    api.contractViolations.push(`${route} ${status}: ${(error as Error).message}`);
  }
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  checkAnswer(response, status, body);
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** A problem as the API answers it (libs/platform's problem(), with the request as instance). */
export function sendProblem(
  response: ServerResponse,
  {
    status,
    code,
    detail,
    ...extra
  }: Pick<Problem, 'status' | 'code' | 'detail'> & Partial<Problem>,
  headers: Record<string, string> = {},
): void {
  const instance = answering.get(response)?.request.path ?? '/';
  const body = problem(status, code, detail, { instance, ...extra });
  checkAnswer(response, status, body);
  response.writeHead(status, { 'content-type': PROBLEM_CONTENT_TYPE, ...headers });
  response.end(JSON.stringify(body));
}

/**
 * A task's event stream as the API sends it: `progress` for each state but an ended one, `end`
 * for an ended one, then the server closes. `keepOpen` leaves it open after the events (a task
 * still running); `drop` closes it without an end (a dropped connection).
 */
export function sendTaskStream(
  response: ServerResponse,
  tasks: TaskView[],
  after: 'end' | 'keepOpen' | 'drop' = 'end',
): void {
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const task of tasks) {
    checkAnswer(response, 200, task);
    const ended = ['succeeded', 'failed', 'cancelled'].includes(task.status);
    response.write(`event: ${ended ? 'end' : 'progress'}\ndata: ${JSON.stringify(task)}\n\n`);
  }
  if (after !== 'keepOpen') response.end();
}
