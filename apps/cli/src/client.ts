import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from './api';

export interface ClientOptions {
  api: string;
  token?: string;
}

/** The API answered with an error (application/problem+json, or whatever else it sent). */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly body: Problem | string,
  ) {
    super(typeof body === 'string' ? body : `${body.code ?? status}: ${body.detail ?? ''}`);
  }
}

/** No answer at all: the API is down, or the address is wrong. */
export class ApiUnreachable extends Error {
  constructor(api: string, cause: unknown) {
    super(
      `Cannot reach the Dolly API at ${api}: ${(cause as Error).message}. Is it running (npm start)?`,
    );
  }
}

/** The local stack writes its tokens here; the CLI uses the admin one when none is given. */
export const LOCAL_TOKENS_FILE = join(__dirname, '..', '..', '..', '..', '.local', 'tokens.json');

export function defaultToken(): string | undefined {
  if (process.env.DOLLY_TOKEN) return process.env.DOLLY_TOKEN;
  try {
    const tokens = JSON.parse(readFileSync(LOCAL_TOKENS_FILE, 'utf8')) as {
      token: string;
      role: string;
    }[];
    return tokens.find((t) => t.role === 'admin')?.token;
  } catch {
    return undefined;
  }
}

/** A thin client of Dolly's HTTP API: JSON in and out, problems as errors. */
export class DollyClient {
  constructor(private readonly options: ClientOptions) {}

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** Opens a text/event-stream; the caller reads the body until the server closes it. */
  async openEventStream(path: string, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const response = await this.fetch('GET', path, { accept: 'text/event-stream' }, signal);
    if (!response.ok) throw await problemOf(response);
    if (!response.body) throw new Error(`${path} answered without a body`);
    return response.body;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.fetch(method, path, headers, undefined, body);
    if (!response.ok) throw await problemOf(response);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private async fetch(
    method: string,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
    body?: unknown,
  ): Promise<Response> {
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    try {
      return await fetch(new URL(path, this.options.api), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ApiUnreachable(this.options.api, error);
    }
  }
}

async function problemOf(response: Response): Promise<ApiProblem> {
  const text = await response.text();
  try {
    return new ApiProblem(response.status, JSON.parse(text) as Problem);
  } catch {
    return new ApiProblem(response.status, text || response.statusText);
  }
}
