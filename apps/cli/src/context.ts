import type { Command } from 'commander';
import type { Page } from './api';
import { DollyClient, defaultToken } from './client';

/** The options every command takes (declared on the program in main.ts). */
export interface GlobalOptions {
  api: string;
  token?: string;
  json: boolean;
  asOf?: string;
}

export interface Context {
  client: DollyClient;
  /** Print JSON for scripts rather than tables for people. */
  json: boolean;
  /** --as-of: the instant reads answer for (undefined: now). */
  asOf?: string;
}

/** The client and output mode for a command, from the global options. */
export function context(command: Command): Context {
  const options = command.optsWithGlobals<GlobalOptions>();
  return {
    client: new DollyClient({ api: options.api, token: options.token ?? defaultToken() }),
    json: options.json,
    asOf: options.asOf,
  };
}

/** A listing, page after page when asked for all (--all), else the first page. */
export async function everyPage<T>(client: DollyClient, path: string, all: boolean): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const page: Page<T> = await client.get<Page<T>>(
      cursor ? `${path}${separator}cursor=${encodeURIComponent(cursor)}` : path,
    );
    items.push(...page.items);
    cursor = all ? page.nextCursor : null;
  } while (cursor);
  return items;
}

export function query(params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter(
    (entry): entry is [string, string] => entry[1] !== undefined,
  );
  return entries.length ? `?${new URLSearchParams(entries).toString()}` : '';
}

/** A path segment from user input (ids are uuids, but a typo must not change the path). */
export function segment(id: string): string {
  return encodeURIComponent(id);
}
