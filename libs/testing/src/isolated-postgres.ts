import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  OWNER_ROLE,
  migrateDatabase,
  setUpDatabase,
  withDatabase,
  withUser,
} from '@dolly/persistence';
import { Pool } from 'pg';
import { freePortPair } from './kafka-fixtures';
import type { TestDatabase } from './test-database';

const run = promisify(execFile);

/** The newest installed server's binaries (Debian's layout), or whatever PATH has. */
function postgresBin(tool: string): string {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return tool;
  const versions = readdirSync(root)
    .filter((version) => existsSync(join(root, version, 'bin', tool)))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0], 'bin', tool) : tool;
}

/** PostgreSQL refuses to run as root: as root, the cluster is the `postgres` user's. */
const asRoot = process.getuid?.() === 0;

async function runAsServerUser(tool: string, args: string[]): Promise<string> {
  const [command, commandArgs] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', postgresBin(tool), ...args]]
    : [postgresBin(tool), args];
  try {
    const { stdout, stderr } = await run(command, commandArgs, { cwd: tmpdir() });
    return `${stdout}${stderr}`;
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `${tool} ${args.join(' ')} failed: ${failed.stderr ?? ''}${failed.stdout ?? ''}`,
    );
  }
}

/**
 * A throw-away PostgreSQL cluster of the test's own (initdb in a temporary folder, on a free
 * port, trust authentication), for tests that stop or restart the server: the shared one serves
 * every other test file running beside them.
 */
export class IsolatedPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<IsolatedPostgres> {
    const dir = mkdtempSync(join(tmpdir(), 'dolly-pg-'));
    if (asRoot) {
      const { uid, gid } = await run('id', ['-u', 'postgres']).then(async ({ stdout }) => ({
        uid: Number(stdout),
        gid: Number((await run('id', ['-g', 'postgres'])).stdout),
      }));
      chownSync(dir, uid, gid);
    }
    const cluster = new IsolatedPostgres(dir, await freePortPair());
    await runAsServerUser('initdb', [
      '--pgdata',
      cluster.dataDir,
      '--username',
      'postgres',
      '--auth',
      'trust',
      '--no-sync',
      '--encoding',
      'UTF8',
    ]);
    await cluster.start();
    return cluster;
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  /** The superuser on this cluster (database `postgres`). */
  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      `-c listen_addresses=127.0.0.1`,
      // Its socket beside its data: the system's socket folder belongs to the shared server.
      `-c unix_socket_directories=${this.dir}`,
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
    ].join(' ');
    await runAsServerUser('pg_ctl', [
      'start',
      '--pgdata',
      this.dataDir,
      '--wait',
      '--timeout',
      '60',
      '--log',
      join(this.dir, 'server.log'),
      '-o',
      options,
    ]);
  }

  /** Stops the server; `fast` ends every session (clients see 57P01), `immediate` is a crash. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!existsSync(join(this.dataDir, 'postmaster.pid'))) return;
    await runAsServerUser('pg_ctl', [
      'stop',
      '--pgdata',
      this.dataDir,
      '--wait',
      '--timeout',
      '60',
      '--mode',
      mode,
    ]);
  }

  async restart(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.stop(mode);
    await this.start();
  }

  /**
   * Dolly's roles and a migrated database on this cluster, made as `npm start` makes them
   * (setUpDatabase as the superuser, the migrations as the owner), and a superuser pool on it
   * that outlives restarts of the server (a session ended by one is no failure).
   */
  async createDatabase(name = 'dolly', poolSize = 5): Promise<TestDatabase> {
    const url = withDatabase(this.url, name);
    await setUpDatabase(this.url, url);
    await migrateDatabase(withUser(url, OWNER_ROLE));
    const pool = new Pool({ connectionString: url, max: poolSize });
    pool.on('error', () => undefined);
    return {
      url,
      pool,
      drop: async () => {
        await pool.end();
      },
    };
  }

  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
