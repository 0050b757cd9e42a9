import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ClientOptions {
  api: string;
  token?: string;
  /** Seconds to let the API wait for the projection (Prefer: wait=N). */
  wait?: number;
}

export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly body:
      | {
          code?: string;
          detail?: string;
          errors?: { pointer?: string; detail: string; code: string }[];
        }
      | string,
  ) {
    super(typeof body === 'string' ? body : `${body.code ?? status}: ${body.detail ?? ''}`);
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

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.options.wait) headers.prefer = `wait=${this.options.wait}`;
    let response: Response;
    try {
      response = await fetch(new URL(path, this.options.api), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new Error(
        `Cannot reach the Dolly API at ${this.options.api}: ${(error as Error).message}. Is it running (npm start)?`,
      );
    }
    const text = await response.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) throw new ApiProblem(response.status, (parsed as ApiProblem['body']) ?? text);
    return parsed as T;
  }
}
