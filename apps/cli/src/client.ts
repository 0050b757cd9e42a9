import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** How many times in a row a request the API refused for a limit (429) is sent again. */
export const BUSY_RETRIES = 5;
/** The longest Retry-After the CLI waits for; a longer one is shown to the user as it is. */
const LONGEST_RETRY_AFTER_SECONDS = 60;

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

  /**
   * A request whose body or answer is a stream (an OVF package up or down): sent once (a stream
   * cannot be sent again after a 429), the answer's body left to the caller; problems thrown.
   */
  async exchange(
    method: 'GET' | 'POST',
    path: string,
    options: {
      headers?: Record<string, string>;
      body?: ReadableStream<Uint8Array>;
      signal?: AbortSignal;
    } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let response: Response;
    try {
      response = await fetch(new URL(path, this.options.api), {
        method,
        headers,
        body: options.body,
        signal: options.signal,
        // A streamed request body: Node's fetch sends it as it is read.
        ...(options.body ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (error) {
      if (options.signal?.aborted) throw error;
      throw new ApiUnreachable(this.options.api, error);
    }
    if (!response.ok) throw await problemOf(response);
    return response;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.fetch(method, path, headers, undefined, body);
    if (!response.ok) throw await problemOf(response);
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /**
   * A 429 (too many commands, too many open streams) changed nothing: wait as long as its
   * Retry-After says, then send the request again, a few times.
   */
  private async fetch(
    method: string,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
    body?: unknown,
  ): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const response = await this.fetchOnce(method, path, headers, signal, body);
      const seconds = retryAfterSeconds(response);
      if (
        response.status !== 429 ||
        seconds === undefined ||
        seconds > LONGEST_RETRY_AFTER_SECONDS ||
        attempt >= BUSY_RETRIES
      )
        return response;
      await response.body?.cancel().catch(() => undefined);
      console.error(`The Dolly API is busy (429): trying again in ${seconds} s`);
      await sleep(seconds * 1000, undefined, { signal });
    }
  }

  private async fetchOnce(
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

/** Retry-After in whole seconds (the API sends no dates); undefined when absent or not a number. */
function retryAfterSeconds(response: Response): number | undefined {
  const header = response.headers.get('retry-after');
  if (header === null || !/^\s*\d+\s*$/.test(header)) return undefined;
  return Number(header);
}

async function problemOf(response: Response): Promise<ApiProblem> {
  const text = await response.text();
  try {
    return new ApiProblem(response.status, JSON.parse(text) as Problem);
  } catch {
    return new ApiProblem(response.status, text || response.statusText);
  }
}
