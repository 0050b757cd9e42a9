import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CommandAccepted, Problem, TaskView } from '../api';

/**
 * A stand-in for Dolly's HTTP API in the CLI's tests: a real HTTP server on the loopback that
 * answers the routes a test gives it, in the API's shapes (202 answers, problem+json, a task's
 * server-sent events), and records every request.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export type Handler = (request: RecordedRequest, response: ServerResponse) => void;

export class FakeApi {
  readonly requests: RecordedRequest[] = [];
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

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

export function sendProblem(response: ServerResponse, problem: Problem & { status: number }): void {
  response.writeHead(problem.status, { 'content-type': 'application/problem+json' });
  response.end(JSON.stringify(problem));
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
    const ended = ['succeeded', 'failed', 'cancelled'].includes(task.status);
    response.write(`event: ${ended ? 'end' : 'progress'}\ndata: ${JSON.stringify(task)}\n\n`);
  }
  if (after !== 'keepOpen') response.end();
}

export const TASK_ID = '0196a3c0-0000-7000-8000-000000000001';
export const VM_ID = '0196a3c0-0000-7000-8000-0000000000a1';
export const CLONE_ID = '0196a3c0-0000-7000-8000-0000000000c1';

export function taskView(overrides: Partial<TaskView> = {}): TaskView {
  return {
    taskId: TASK_ID,
    operation: 'CloneVm',
    target: { type: 'vm', id: CLONE_ID },
    status: 'queued',
    attempt: 0,
    workerId: null,
    cancelRequested: false,
    progress: { percent: 0, doneBytes: 0, totalBytes: 0, phase: null },
    error: null,
    actor: { id: 'admin', role: 'admin' },
    correlationId: '0196a3c0-0000-7000-8000-0000000000f1',
    projected: true,
    createdAt: '2025-01-01T10:00:00.000Z',
    updatedAt: '2025-01-01T10:00:00.000Z',
    completedAt: null,
    ...overrides,
  };
}

/** A clone going from queued through a copy to `status`. */
export function cloneTasks(end: Partial<TaskView>): TaskView[] {
  const GiB = 1024 ** 3;
  return [
    taskView(),
    taskView({
      status: 'running',
      attempt: 1,
      workerId: 'worker-1',
      progress: { percent: 50, doneBytes: GiB / 2, totalBytes: GiB, phase: 'copy' },
    }),
    taskView({
      attempt: 1,
      workerId: 'worker-1',
      updatedAt: '2025-01-01T10:00:12.000Z',
      completedAt: '2025-01-01T10:00:12.000Z',
      ...end,
    }),
  ];
}

export function accepted(taskId = TASK_ID, target = { type: 'vm', id: CLONE_ID }): CommandAccepted {
  return {
    taskId,
    status: 'queued',
    changed: true,
    projected: false,
    target: { ...target, version: 1 },
    links: { task: `/tasks/${taskId}`, target: `/vms/${target.id}` },
  };
}
