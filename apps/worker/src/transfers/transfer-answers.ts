/**
 * How the transfer endpoint answers the API: problems as `application/problem+json` (the shape
 * the platform's problem filter writes), an import's outcome as JSON. Written on the raw response,
 * since the attempt, not Nest, answers a request it took over.
 */
import type { ServerResponse } from 'node:http';
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
