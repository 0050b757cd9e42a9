/**
 * How the transfer endpoint answers the API: problems as `application/problem+json` (the shape
 * the platform's problem filter writes), an import's outcome as JSON. Written on the raw response,
 * since the attempt, not Nest, answers a request it took over.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PROBLEM_CONTENT_TYPE, problem } from '@dolly/platform';

/** Answers once; a response already answered (or whose client went away) is left as it is. */
export function answerProblem(
  response: ServerResponse,
  status: number,
  code: string,
  detail: string,
  extra: Record<string, unknown> = {},
): void {
  answer(response, status, PROBLEM_CONTENT_TYPE, { ...problem(status, code, detail), ...extra });
}

export function answerJson(response: ServerResponse, status: number, body: unknown): void {
  answer(response, status, 'application/json', body);
}

function answer(response: ServerResponse, status: number, type: string, body: unknown): void {
  if (response.headersSent || response.writableEnded || response.destroyed) return;
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': `${type}; charset=utf-8`,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  response.end(text);
}

/**
 * Bytes of a body read and thrown away after an early answer: a client still sending when the
 * connection closed would meet EPIPE before it read the answer (the API would not learn why). A
 * sender that goes on past this has its connection closed all the same.
 */
export const DISCARDED_BODY_LIMIT_BYTES = 64 * 1024 * 1024;

/** Reads what is left of a body answered early, up to the limit, so the answer reaches its client. */
export function discardRest(request: IncomingMessage): void {
  if (request.complete || request.destroyed) return;
  let discarded = 0;
  request.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > DISCARDED_BODY_LIMIT_BYTES) request.destroy();
  });
  request.resume();
}
