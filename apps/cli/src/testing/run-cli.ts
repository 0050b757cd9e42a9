import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { FakeApi } from './fake-api';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

const ROOT = join(__dirname, '..', '..', '..', '..');
const MAIN = join(ROOT, 'apps', 'cli', 'src', 'main.ts');

/** Where the CLI is pointed: a fake API (its token is the fake's), or a real stack with a token. */
export type CliTarget = Pick<FakeApi, 'url'> & { token?: string };

/** The CLI as its own process (run from the source with tsx), so exit codes and signals are real. */
export function startCli(
  api: CliTarget,
  args: string[],
): { child: ChildProcess; done: Promise<CliRun>; stderrShows(text: string): Promise<void> } {
  // Jest asks its workers for colour (FORCE_COLOR); the CLI's output is read here as plain text.
  const { FORCE_COLOR: _colour, ...env } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { ...env, DOLLY_API_URL: api.url, DOLLY_TOKEN: api.token ?? 'test-token', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const stderrWaiters: { text: string; resolve: () => void }[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const waiter of stderrWaiters.filter((w) => stderr.includes(w.text))) waiter.resolve();
  });
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return {
    child,
    done,
    stderrShows: (text) =>
      stderr.includes(text)
        ? Promise.resolve()
        : new Promise<void>((resolve) => stderrWaiters.push({ text, resolve })),
  };
}

export function runCli(api: CliTarget, args: string[]): Promise<CliRun> {
  return startCli(api, args).done;
}
