import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SERVICE_NODE_FLAGS } from '@dolly/config';
import { APP_LOGIN_ROLES, withUser } from '@dolly/persistence';
import { removeKafkaPrefix, testPrefix } from './kafka-fixtures';
import { type TestDatabase, createTestDatabase } from './test-database';

export type AppName = 'api' | 'projector' | 'worker';
export type TestRole = 'admin' | 'operator' | 'auditor' | 'host-client';

const REPO_ROOT = join(__dirname, '..', '..', '..');
const PORT_ENV: Record<AppName, string> = {
  api: 'DOLLY_API_PORT',
  projector: 'DOLLY_PROJECTOR_PORT',
  worker: 'DOLLY_WORKER_PORT',
};

export interface HttpAnswer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

interface RunningApp {
  process: ChildProcess;
  url: string;
  output: string[];
}

/**
 * The real apps, built (dist/), as separate processes on a database and Kafka topic prefix of their
 * own, for end-to-end tests: what a user runs, not an in-process imitation. Processes can be
 * killed (SIGKILL) and started again mid-test.
 */
/**
 * How a test or benchmark starts an app's node: the services' own flags, then
 * DOLLY_APP_NODE_ARGS (e.g. --cpu-prof), to see where an app's time goes.
 */
export function appNodeArgs(): string[] {
  const extra = (process.env.DOLLY_APP_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return [...SERVICE_NODE_FLAGS, ...extra];
}

export class DollyStack {
  readonly tokens: Record<TestRole, string>;
  /** By instance name: an app's name, or a name of its own for a second worker. */
  private readonly running = new Map<string, RunningApp>();
  private readonly folders: string[] = [];
  /** The one folder this stack's datastores may live in (DOLLY_DATASTORE_ROOTS), removed with it. */
  readonly datastoreRoot: string;

  private constructor(
    readonly database: TestDatabase,
    readonly kafkaPrefix: string,
    private readonly extraEnv: NodeJS.ProcessEnv,
  ) {
    this.datastoreRoot = mkdtempSync(join(tmpdir(), 'dolly-roots-'));
    this.folders.push(this.datastoreRoot);
    this.tokens = {
      admin: randomBytes(16).toString('hex'),
      operator: randomBytes(16).toString('hex'),
      auditor: randomBytes(16).toString('hex'),
      'host-client': randomBytes(16).toString('hex'),
    };
  }

  /**
   * `database`: a migrated database made elsewhere (on a server of the test's own); the stack
   * uses it and lets it go at stop. Default: a fresh copy of the template on the shared server.
   */
  static async start(
    apps: AppName[] = ['api', 'projector', 'worker'],
    extraEnv: NodeJS.ProcessEnv = {},
    database?: TestDatabase,
  ): Promise<DollyStack> {
    if (!existsSync(join(REPO_ROOT, 'dist', 'apps', 'api', 'src', 'main.js'))) {
      throw new Error('The apps are not built: run npm run build (npm test does it)');
    }
    const stack = new DollyStack(database ?? (await createTestDatabase(5)), testPrefix(), extraEnv);
    try {
      for (const app of apps) await stack.startApp(app);
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  get apiUrl(): string {
    return this.urlOf('api');
  }

  urlOf(instance: string): string {
    const running = this.running.get(instance);
    if (!running) throw new Error(`The ${instance} is not running`);
    return running.url;
  }

  /** What an app runs with: its own login role, as in production (the test itself may look as the superuser). */
  env(app: AppName): NodeJS.ProcessEnv {
    return {
      ...process.env,
      DOLLY_DATASTORE_ROOTS: this.datastoreRoot,
      // Workloads in tests send commands as fast as they can; a test of the rate limit sets it.
      DOLLY_API_COMMANDS_PER_SECOND: '0',
      ...this.extraEnv,
      DATABASE_URL: withUser(this.database.url, APP_LOGIN_ROLES[app]),
      DOLLY_KAFKA_PREFIX: this.kafkaPrefix,
      DOLLY_API_TOKENS: JSON.stringify(
        Object.entries(this.tokens).map(([role, token]) => ({ role, token, name: `test-${role}` })),
      ),
      DOLLY_LOG_LEVEL: process.env.DOLLY_TEST_LOG_LEVEL ?? 'warn',
    };
  }

  /** The worker id an instance runs as: unique to this stack, so tests never share a worker's daemon or groups. */
  workerId(instance: string): string {
    return `${instance}-${this.kafkaPrefix.replace(/[^a-z0-9]/gi, '')}`;
  }

  /** A datastore folder of the test's own, empty, inside the stack's datastore root. */
  datastoreFolder(): string {
    return mkdtempSync(join(this.datastoreRoot, 'ds-'));
  }

  async startApp(app: AppName, instance: string = app): Promise<void> {
    if (this.running.has(instance)) throw new Error(`${instance} is already running`);
    const child = spawn(
      process.execPath,
      [...appNodeArgs(), join(REPO_ROOT, 'dist', 'apps', app, 'src', 'main.js')],
      {
        env: {
          ...this.env(app),
          [PORT_ENV[app]]: '0',
          ...(app === 'worker'
            ? { DOLLY_WORKER_ID: this.workerId(instance), DOLLY_WORKER_RESCAN_MS: '300' }
            : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const output: string[] = [];
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`${app} did not start within 60 s:\n${output.slice(-30).join('\n')}`)),
        60_000,
      );
      for (const stream of [child.stdout!, child.stderr!]) {
        createInterface({ input: stream }).on('line', (line) => {
          output.push(line);
          if (output.length > 2000) output.shift();
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
      }
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(
          new Error(`${app} exited with ${code} while starting:\n${output.slice(-30).join('\n')}`),
        );
      });
    });
    this.running.set(instance, { process: child, url, output });
  }

  /** Kills an app (SIGKILL by default: no chance to clean up) and waits until it is gone. */
  async kill(instance: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const running = this.running.get(instance);
    if (!running) return;
    this.running.delete(instance);
    if (running.process.exitCode !== null || running.process.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      running.process.once('exit', () => resolve());
      running.process.kill(signal);
    });
  }

  logs(instance: string): string[] {
    return this.running.get(instance)?.output ?? [];
  }

  async stop(): Promise<void> {
    await Promise.all([...this.running.keys()].map((instance) => this.kill(instance, 'SIGTERM')));
    // The stack's topics and consumer groups (all under its prefix) go with it, on the broker its
    // apps used (extraEnv may name another): the local broker that `npm start` serves keeps none.
    await removeKafkaPrefix(this.kafkaPrefix, { ...process.env, ...this.extraEnv });
    await this.database.drop();
    for (const folder of this.folders) rmSync(folder, { recursive: true, force: true });
  }

  async request<T = unknown>(
    method: string,
    path: string,
    options: {
      role?: TestRole | null;
      body?: unknown;
      rawBody?: string;
      headers?: Record<string, string>;
    } = {},
  ): Promise<HttpAnswer<T>> {
    const headers: Record<string, string> = { ...options.headers };
    const role = options.role === undefined ? 'admin' : options.role;
    if (role) headers.authorization = `Bearer ${this.tokens[role]}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${this.apiUrl}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: the test sees the text.
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  }

  /** Polls until the check returns something truthy, or fails with what it last saw. */
  async eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const result = await check();
        if (result) return result;
        last = result;
      } catch (error) {
        last = error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(
      `Timed out after ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
    );
  }
}
