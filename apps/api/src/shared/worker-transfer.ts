import { createHash, randomBytes } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { RuleViolationError, taskStreamId } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import { type ProblemDetails, UnavailableError, problem } from '@dolly/platform';
import { CancelTask } from '../tasks/cancel-task/cancel-task.handler';
import { Execution } from './command-execution';
import { ProjectionWaiter } from './projection-waiter';
import { type TaskSettled, taskSettled } from './task-settled';
import type { RequestContext } from './request-context';

/**
 * How long the API waits for the worker running an import or export to say where its transfer
 * endpoint is: the job must be taken, started and the worker ready. Past it the task is cancelled
 * and the caller told to try again (the worker gives up on its side after DOLLY_TRANSFER_WAIT_MS).
 */
export const TRANSFER_OPEN_WAIT_MS = 60_000;

/** A one-time token for one transfer: the caller of the worker presents it, the job holds only its digest. */
export function newTransferToken(): { token: string; tokenSha256: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, tokenSha256: createHash('sha256').update(token).digest('hex') };
}

/** A caller watched while its transfer runs (WorkerTransfers.watchCaller). */
export interface WatchedCaller {
  /** Aborts when the caller went away before its answer. */
  signal: AbortSignal;
  /** The task the caller's request decided: cancelled if the caller goes. */
  taskIs(taskId: string): void;
  stop(): void;
}

export interface OpenedTransfer {
  /** The worker's transfer endpoint for this task. */
  url: string;
  attempt: number;
}

/** The worker's answer, its body still to be read (or streamed on). */
export interface WorkerResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: IncomingMessage;
}

/**
 * The API's side of the transfer protocol (docs: notes/ovf-api.md): waits, without polling, until
 * the worker running a task opens its transfer (TaskTransferOpened of the running attempt, read
 * from the task's stream each time the projector has applied more of it), then talks to it.
 */
@Injectable()
export class WorkerTransfers {
  constructor(
    private readonly store: PostgresEventStore,
    private readonly waiter: ProjectionWaiter,
    private readonly bus: CommandBus,
  ) {}

  /**
   * Where the running attempt of the task waits for the API. A task that ends first (refused by
   * its worker, cancelled) is answered with its own reason; one that no worker opens in time is
   * cancelled, so that nothing is left waiting for bytes that will never come.
   */
  async opened(
    taskId: string,
    context: RequestContext,
    timeoutMs = TRANSFER_OPEN_WAIT_MS,
  ): Promise<OpenedTransfer> {
    const streamId = taskStreamId(taskId);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const events = await this.store.readStream(streamId);
      let attempt = 0;
      let opened: OpenedTransfer | null = null;
      for (const event of events) {
        const data = event.data as {
          attempt?: number;
          url?: string;
          code?: string;
          message?: string;
          reasons?: { code: string; detail: string; at?: string }[];
        };
        switch (event.type) {
          case 'TaskStarted':
            attempt = data.attempt ?? attempt;
            opened = null;
            break;
          case 'TaskTransferOpened':
            if (data.attempt === attempt) opened = { url: data.url!, attempt };
            break;
          case 'TaskFailed':
            // A package refused as a task ends with every reason it was refused for.
            throw new RuleViolationError(
              data.code!,
              data.message!,
              data.reasons?.length ? data.reasons : [{ code: data.code!, detail: data.message! }],
            );
          case 'TaskCancelled':
            throw new RuleViolationError('TASK.CANCELLED', `Task ${taskId} was cancelled`, [
              {
                code: 'TASK.CANCELLED',
                detail: `Task ${taskId} was cancelled before its transfer`,
              },
            ]);
          case 'TaskSucceeded':
            throw new Error(`Task ${taskId} succeeded without a transfer`);
          default:
            break;
        }
      }
      if (opened) return opened;
      const version = events.at(-1)?.streamVersion ?? 0;
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.waiter.waitForStream(streamId, version + 1, left))) {
        await this.cancel(taskId, context);
        throw new UnavailableError(
          'TRANSFER.WORKER_NOT_READY',
          `No worker was ready for task ${taskId} within ${Math.round(timeoutMs / 1000)} s; it was cancelled and nothing was changed. Try again shortly`,
        );
      }
    }
  }

  /**
   * Waits until the worker ended the task and the projector applied what it wrote on the target
   * stream (at least `atLeastVersion`): then a caller reading the target sees the task's effect
   * (the VM imported, or no longer busy exporting). False for either when the time ran out.
   */
  async taskOver(
    taskId: string,
    streamId: string,
    timeoutMs: number,
    atLeastVersion = 0,
  ): Promise<TaskSettled> {
    return taskSettled(
      this.waiter,
      this.store,
      { taskId, byWorker: true },
      { streamId, atLeastVersion },
      timeoutMs,
    );
  }

  /**
   * Watches the caller of an upload or a download: when it goes away before its answer, the
   * transfer to the worker stops (`signal`) and the task, once there is one, is cancelled, so
   * that nothing waits for bytes that will never come. `stop` once answered.
   */
  watchCaller(response: ServerResponse, context: RequestContext): WatchedCaller {
    const aborted = new AbortController();
    let taskId: string | null = null;
    const gone = () => {
      if (response.writableFinished) return;
      // The cancel is asked first: the worker, seeing its transfer cut, may report before it.
      if (taskId) void this.cancel(taskId, context);
      aborted.abort();
    };
    response.once('close', gone);
    return {
      signal: aborted.signal,
      taskIs: (id) => (taskId = id),
      stop: () => response.off('close', gone),
    };
  }

  /** Asks the task to stop (the caller went away, or nobody took it); an ended task stays as it ended. */
  async cancel(taskId: string, context: RequestContext): Promise<void> {
    await this.bus
      .execute(new CancelTask(new Execution(context, 'CancelTask'), { taskId }))
      .catch(() => undefined);
  }

  /** PUT the package's bytes to the worker, streamed with backpressure; resolves with its answer. */
  upload(
    transfer: OpenedTransfer,
    taskId: string,
    token: string,
    body: AsyncIterable<Buffer>,
    headers: { contentType: string; contentLength?: string },
    signal: AbortSignal,
  ): Promise<WorkerResponse> {
    return new Promise<WorkerResponse>((resolve, reject) => {
      const outgoing = this.open(transfer, taskId, token, 'PUT', signal, {
        'content-type': headers.contentType,
        ...(headers.contentLength ? { 'content-length': headers.contentLength } : {}),
      });
      outgoing.once('response', (response) => resolve(answerOf(response)));
      outgoing.once('error', (error) => reject(unreachable(transfer, taskId, error, signal)));
      // The worker may answer (a refusal) before it read everything: its answer counts, the
      // rest of the body is not sent.
      pipeline(Readable.from(body, { objectMode: false }), outgoing).catch(() => undefined);
    });
  }

  /** GET the package the worker produces, as a stream. */
  download(
    transfer: OpenedTransfer,
    taskId: string,
    token: string,
    signal: AbortSignal,
  ): Promise<WorkerResponse> {
    return new Promise<WorkerResponse>((resolve, reject) => {
      const outgoing = this.open(transfer, taskId, token, 'GET', signal, {});
      outgoing.once('response', (response) => resolve(answerOf(response)));
      outgoing.once('error', (error) => reject(unreachable(transfer, taskId, error, signal)));
      outgoing.end();
    });
  }

  private open(
    transfer: OpenedTransfer,
    taskId: string,
    token: string,
    method: 'GET' | 'PUT',
    signal: AbortSignal,
    headers: Record<string, string>,
  ) {
    const url = new URL(`/transfers/${encodeURIComponent(taskId)}`, transfer.url);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return request(url, {
      method,
      signal,
      headers: { ...headers, authorization: `Bearer ${token}` },
    });
  }
}

/**
 * The worker's transfer endpoint could not be reached, or the connection broke before it
 * answered: a socket error is no fault of the request's (nor of PostgreSQL's, which is how the
 * problem filter would read ECONNRESET), and the task fails or is cancelled on the worker's side.
 */
function unreachable(
  transfer: OpenedTransfer,
  taskId: string,
  error: Error,
  signal: AbortSignal,
): Error {
  if (signal.aborted) return error;
  const code = (error as NodeJS.ErrnoException).code ?? error.name;
  return new UnavailableError(
    'TRANSFER.WORKER_UNREACHABLE',
    `The worker running task ${taskId} (${transfer.url}) could not be reached or broke the connection (${code}): ${error.message}`,
  );
}

function answerOf(response: IncomingMessage): WorkerResponse {
  return { status: response.statusCode ?? 502, headers: response.headers, body: response };
}

/** The worker answered the API's transfer with neither the bytes nor a refusal of the package. */
export async function workerRefusal(
  taskId: string,
  direction: 'upload' | 'download',
  worker: WorkerResponse,
): Promise<ProblemDetails> {
  const answer = await readJsonAnswer(worker.body).catch(() => null);
  return problem(
    502,
    'TRANSFER.WORKER_REFUSED',
    `The worker running task ${taskId} answered ${worker.status} to the ${direction}: ${JSON.stringify(answer)}`,
    { taskId },
  );
}

/** A worker's answer that is JSON, read whole up to a bound (a refusal lists reasons, not disks). */
export async function readJsonAnswer(body: AsyncIterable<Buffer>, maxBytes = 4 * 1024 * 1024) {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) throw new Error(`The worker's answer exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}
