import { createHash } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DomainError } from '@dolly/domain';
import { PG_POOL } from '@dolly/platform';
import type { Pool, PoolClient } from 'pg';

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

interface StoredRow {
  request_fingerprint: string;
  response_status: number;
  response_headers: Record<string, string>;
  response_body: unknown;
}

/** How long a key is remembered: retries come within minutes; a day is generous. */
const KEEP_KEYS_HOURS = 24;

export class IdempotencyKeyReusedError extends DomainError {
  constructor(key: string) {
    super(
      'rule-violation',
      'IDEMPOTENCY.KEY_REUSED',
      `Idempotency-Key '${key}' was used before for a different request; use a new key for a new request`,
    );
  }
}

/** Thrown inside the command's transaction when a concurrent request with the same key won. */
export class IdempotencyRaceLostError extends Error {}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : 1,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${path}\n${canonicalJson(body ?? null)}`)
    .digest('hex');
}

/**
 * Idempotency keys: the first answer to a keyed command is stored in the same transaction as its
 * events, so a retry (same key, same request) gets that answer back and changes nothing.
 */
@Injectable()
export class IdempotencyStore implements OnModuleInit, OnApplicationShutdown {
  private purge: NodeJS.Timeout | undefined;

  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  onModuleInit(): void {
    this.purge = setInterval(() => {
      this.pool
        .query(
          `DELETE FROM api.idempotency_keys WHERE created_at < now() - make_interval(hours => $1)`,
          [KEEP_KEYS_HOURS],
        )
        .catch(() => undefined);
    }, 3600_000);
    this.purge.unref();
  }

  onApplicationShutdown(): void {
    if (this.purge) clearInterval(this.purge);
  }

  /** The stored answer for a key, if this exact request was answered before. */
  async replay(
    principal: string,
    key: string,
    fingerprint: string,
  ): Promise<StoredResponse | undefined> {
    const { rows } = await this.pool.query<StoredRow>(
      `SELECT request_fingerprint, response_status, response_headers, response_body
         FROM api.idempotency_keys WHERE principal = $1 AND idempotency_key = $2`,
      [principal, key],
    );
    const row = rows[0];
    if (!row) return undefined;
    if (row.request_fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(key);
    return { status: row.response_status, headers: row.response_headers, body: row.response_body };
  }

  async record(
    client: PoolClient,
    principal: string,
    key: string,
    fingerprint: string,
    response: StoredResponse,
  ): Promise<void> {
    const { rowCount } = await client.query(
      `INSERT INTO api.idempotency_keys (principal, idempotency_key, request_fingerprint, response_status, response_headers, response_body)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
      [
        principal,
        key,
        fingerprint,
        response.status,
        JSON.stringify(response.headers),
        JSON.stringify(response.body),
      ],
    );
    if (rowCount === 0) throw new IdempotencyRaceLostError();
  }
}
