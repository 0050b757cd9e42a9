// `npm start` as a user runs it on a machine whose PostgreSQL has no Dolly database yet: the real
// launcher (tools/dev/stack.ts, what run.sh runs after the set-up), its own broker, ports and
// database. It must come up on the first try, answer /health with every part up, log no warning
// or error (a healthy start has nothing the operator must act on), and on Ctrl-C
// leave nothing running that it started.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SERVICE_NODE_FLAGS } from '@dolly/config';
import { databaseName, dropDatabase, withDatabase } from '@dolly/persistence';
import { TEST_DATABASE_PREFIX, freePortPair, serverUrl } from '@dolly/testing';
import { Client } from 'pg';
import { stopKafka } from '../tools/kafka/local-kafka';

const REPO_ROOT = join(__dirname, '..');
const TOKENS_FILE = join(REPO_ROOT, '.local', 'tokens.json');
/** The broker's first start, three apps and a migration on a loaded machine: minutes at worst. */
const START_TIMEOUT_MS = 240_000;

jest.setTimeout(420_000);

/** Alive and not a zombie waiting for its parent: what "still running" means. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Every process below this one, found through /proc. */
function descendants(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

/**
 * A line the operator would take for trouble: a warning or error an app logged (the launcher shows
 * those as `[dolly] <app> <level>: message`; kafkajs's own logger writes "level":"ERROR"; pino's
 * numbers are 40 and up), or anything else that says so. The launcher's indented summary lines
 * (addresses, files) are not.
 */
function alarming(line: string): boolean {
  if (line.startsWith('[dolly]   ')) return false;
  return /\b(warn|warning|error|fatal)\b/i.test(line) || /"level":\s*(40|50|60)\b/.test(line);
}

interface HealthReport {
  status: string;
  checks: Record<string, { status: string }>;
}

const allUp = ({ status, report }: { status: number; report: HealthReport }) =>
  status === 200 &&
  report.status === 'up' &&
  Object.values(report.checks).every((check) => check.status === 'up');

/** Who is connected to the database, by application name. */
async function sessionsOf(
  url: string,
): Promise<{ app: string; role: string; superuser: boolean }[]> {
  const admin = new Client({ connectionString: withDatabase(serverUrl(), 'postgres') });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ app: string; role: string; superuser: boolean }>(
      `SELECT DISTINCT a.application_name AS app, a.usename AS role, r.rolsuper AS superuser
         FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
        WHERE a.datname = $1 ORDER BY 1, 2`,
      [databaseName(url)],
    );
    return rows;
  } finally {
    await admin.end();
  }
}

async function databaseExists(url: string): Promise<boolean> {
  const admin = new Client({ connectionString: withDatabase(serverUrl(), 'postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      databaseName(url),
    ]);
    return rowCount === 1;
  } finally {
    await admin.end();
  }
}

describe('npm start on a PostgreSQL without a Dolly database', () => {
  const kafkaDir = mkdtempSync(join(tmpdir(), 'dolly-launcher-kafka-'));
  const datastoreRoot = mkdtempSync(join(tmpdir(), 'dolly-launcher-ds-'));
  const runtimeDir = mkdtempSync('/tmp/dolly-launcher-');
  const databaseUrl = withDatabase(
    serverUrl(),
    `${TEST_DATABASE_PREFIX}${Math.floor(Date.now() / 1000)}_launcher_${randomBytes(3).toString('hex')}`,
  );
  let kafkaPort = 0;
  let launcher: ChildProcess | undefined;
  const output: string[] = [];

  afterAll(async () => {
    if (launcher && launcher.exitCode === null && launcher.signalCode === null) {
      for (const pid of [...descendants(launcher.pid!), launcher.pid!]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
    }
    if (kafkaPort) await stopKafka({ dir: kafkaDir, port: kafkaPort });
    await dropDatabase(databaseUrl);
    for (const dir of [kafkaDir, datastoreRoot, runtimeDir])
      rmSync(dir, { recursive: true, force: true });
  });

  it('creates and migrates the database once, runs every app, and stops all it started', async () => {
    expect(await databaseExists(databaseUrl)).toBe(false);
    kafkaPort = await freePortPair();
    const [apiPort, projectorPort, workerPort] = await Promise.all([
      freePortPair(),
      freePortPair(),
      freePortPair(),
    ]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      DOLLY_KAFKA_PORT: String(kafkaPort),
      DOLLY_KAFKA_DIR: kafkaDir,
      DOLLY_API_PORT: String(apiPort),
      DOLLY_PROJECTOR_PORT: String(projectorPort),
      DOLLY_WORKER_PORT: String(workerPort),
      DOLLY_WORKER_ID: `launcher-${randomBytes(3).toString('hex')}`,
      DOLLY_WORKER_RUNTIME_DIR: runtimeDir,
      DOLLY_DATASTORE_ROOTS: datastoreRoot,
      DOLLY_WORKER_RESCAN_MS: '300',
    };
    // What the suite's global setup found is not the launcher's: it finds or starts its own.
    for (const name of ['KAFKA_BROKERS', 'DOLLY_KAFKA_PREFIX', 'DOLLY_API_TOKENS'])
      delete env[name];
    delete env.DOLLY_API_TOKENS_FILE;

    const child = spawn(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), ['tools/dev/stack.ts'], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    launcher = child;
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not running after ${START_TIMEOUT_MS} ms:\n${output.join('\n')}`)),
        START_TIMEOUT_MS,
      );
      for (const stream of [child.stdout!, child.stderr!]) {
        createInterface({ input: stream }).on('line', (line) => {
          output.push(line);
          if (line.includes('Dolly is running')) {
            clearTimeout(timer);
            resolve();
          }
        });
      }
      void exited.then((code) => {
        clearTimeout(timer);
        reject(
          new Error(`the launcher exited (code ${code}) while starting:\n${output.join('\n')}`),
        );
      });
    });

    const tokens = JSON.parse(readFileSync(TOKENS_FILE, 'utf8')) as {
      role: string;
      token: string;
    }[];
    const authorization = `Bearer ${tokens.find((token) => token.role === 'admin')!.token}`;
    // A worker is healthy once it serves a datastore: register one in the folder it may make.
    const registered = await fetch(`http://127.0.0.1:${apiPort}/datastores`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json', prefer: 'wait=30' },
      body: JSON.stringify({
        name: 'ds-01',
        capacityBytes: 1024 ** 3,
        folder: join(datastoreRoot, 'ds-01'),
      }),
    });
    expect(registered.status).toBe(201);
    const health = async (port: number) => {
      const response = await fetch(`http://127.0.0.1:${port}/health`, {
        headers: { authorization },
      }).catch((error: unknown) => {
        // An app gone after it started: what the launcher said tells which, and why.
        throw new Error(`GET :${port}/health: ${String(error)}\n${output.join('\n')}`);
      });
      return { port, status: response.status, report: (await response.json()) as HealthReport };
    };
    const ports = [apiPort, projectorPort, workerPort];
    let reports = await Promise.all(ports.map(health));
    for (const deadline = Date.now() + 60_000; Date.now() < deadline;) {
      if (reports.every(allUp)) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
      reports = await Promise.all(ports.map(health));
    }
    expect(reports.filter((report) => !allUp(report))).toEqual([]);

    // Each app connects as its own role, none as a superuser.
    expect(await sessionsOf(databaseUrl)).toEqual(
      expect.arrayContaining([
        { app: 'dolly-api', role: 'dolly_api_login', superuser: false },
        { app: 'dolly-projector', role: 'dolly_projector_login', superuser: false },
        { app: 'dolly-worker', role: 'dolly_worker_login', superuser: false },
      ]),
    );
    expect((await sessionsOf(databaseUrl)).filter((session) => session.superuser)).toEqual([]);

    const started = descendants(child.pid!);
    // Each app runs with the services' node flags (SERVICE_NODE_FLAGS says why).
    const apps = started.flatMap((pid) => {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      const app = /dist\/apps\/(\w+)\/src\/main\.js$/.exec(argv.at(-1) ?? '')?.[1];
      return app ? [{ app, flags: argv.slice(1, -1) }] : [];
    });
    expect(apps.map(({ app }) => app).sort()).toEqual(['api', 'projector', 'worker']);
    for (const { app, flags } of apps)
      expect({ app, flags }).toEqual({ app, flags: [...SERVICE_NODE_FLAGS] });
    const brokerPidFile = join(kafkaDir, 'broker.pid');
    expect(existsSync(brokerPidFile)).toBe(true);
    const broker = Number(readFileSync(brokerPidFile, 'utf8').trim());
    // The launcher's own node process, the three apps, the worker's storage daemon and the broker.
    expect(started.length).toBeGreaterThanOrEqual(5);
    expect(running(broker)).toBe(true);

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('[dolly] stopped');
    const left = [...started, broker].filter(running);
    expect(left).toEqual([]);
    // A healthy start and stop says nothing the operator must act on: no app logged a warning or
    // an error (the launcher shows those as `[dolly] <app> <level>: ...`), kafkajs included.
    expect(output.filter(alarming)).toEqual([]);
  });
});
