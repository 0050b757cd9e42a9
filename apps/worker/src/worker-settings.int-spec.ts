/**
 * The worker's live-disk settings from its environment, through to a real qemu-storage-daemon:
 * where its runtime folder goes, and NBD over TCP with TLS for clients on other machines.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type DiskDataPlane, prepareStorageDaemon, startDiskDataPlane } from '@dolly/disk-engine';
import { makeTestCertificates } from '@dolly/testing';
import { type WorkerSettings, workerSettings } from './worker-settings';

jest.setTimeout(120_000);

const run = promisify(execFile);
const MIB = 1024 * 1024;

let scratch: string;
let plane: DiskDataPlane | undefined;
const madeRuntimeDirs: string[] = [];
beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'dolly-worker-settings-'));
});
afterEach(async () => {
  await plane?.stop().catch(() => undefined);
  plane = undefined;
  for (const dir of madeRuntimeDirs.splice(0)) await rm(dir, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
});

const uniqueWorkerId = () => `settings-${Math.random().toString(36).slice(2, 10)}`;

/** The disk engine as the worker starts it (DataPlaneService.serve), on a datastore of the test's. */
async function startAsWorker(settings: WorkerSettings): Promise<DiskDataPlane> {
  const datastore = await mkdtemp(join(scratch, 'ds-'));
  plane = await startDiskDataPlane({
    datastores: [{ datastoreId: 'ds1', path: datastore }],
    runtimeDir: settings.runtimeDir,
    nbd: settings.nbd,
    tls: settings.tls,
    workerId: settings.workerId,
  });
  return plane;
}

async function liveDisk(started: DiskDataPlane) {
  await started.engine.createDisk({
    operationId: `create-${Math.random()}`,
    datastoreId: 'ds1',
    diskId: 'vm',
    kind: 'disk',
    format: 'thin',
    capacityBytes: 16 * MIB,
  });
  return started.engine.openLive({
    operationId: `open-${Math.random()}`,
    target: { diskId: 'vm' },
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function nbdSize(uri: string): Promise<number> {
  return JSON.parse((await run('nbdinfo', ['--size', '--json', uri])).stdout) as number;
}

async function expectOwnerOnlyFolder(path: string): Promise<void> {
  const stats = await lstat(path);
  expect(stats.isDirectory()).toBe(true);
  expect(stats.mode & 0o7777).toBe(0o700);
  expect(stats.uid).toBe(process.geteuid!());
}

describe('the runtime folder', () => {
  it('falls back to a folder of the user’s own under the temporary folder when XDG_RUNTIME_DIR is unset', async () => {
    const workerId = uniqueWorkerId();
    const settings = workerSettings({ DOLLY_WORKER_ID: workerId });
    const perUser = join(tmpdir(), `dolly-${process.geteuid!()}`);
    expect(settings.runtimeDir).toBe(join(perUser, `dolly-${workerId}`));
    madeRuntimeDirs.push(settings.runtimeDir);
    const started = await startAsWorker(settings);
    await expectOwnerOnlyFolder(perUser);
    await expectOwnerOnlyFolder(settings.runtimeDir);
    const live = await liveDisk(started);
    expect(live.uri).toContain(`socket=${settings.runtimeDir}/`);
    expect(await nbdSize(live.uri)).toBe(16 * MIB);
  });

  it('is under XDG_RUNTIME_DIR when that is set, and the configured folder wins over both', async () => {
    const xdg = await mkdtemp(join(scratch, 'xdg-'));
    const workerId = uniqueWorkerId();
    const settings = workerSettings({ DOLLY_WORKER_ID: workerId, XDG_RUNTIME_DIR: xdg });
    expect(settings.runtimeDir).toBe(join(xdg, `dolly-${workerId}`));
    const started = await startAsWorker(settings);
    await expectOwnerOnlyFolder(settings.runtimeDir);
    expect(await nbdSize((await liveDisk(started)).uri)).toBe(16 * MIB);

    const configured = join(scratch, 'rt');
    expect(
      workerSettings({
        DOLLY_WORKER_ID: workerId,
        XDG_RUNTIME_DIR: xdg,
        DOLLY_WORKER_RUNTIME_DIR: configured,
      }).runtimeDir,
    ).toBe(configured);
  });

  it('is refused at start when it is open to others, and nothing starts', async () => {
    const settings = workerSettings({ DOLLY_WORKER_RUNTIME_DIR: join(scratch, 'open', 'rt') });
    await run('install', ['-d', '-m', '0777', join(scratch, 'open')]);
    await expect(prepareStorageDaemon(settings)).rejects.toMatchObject({
      code: 'DISK.UNSAFE_RUNTIME_DIR',
      message: expect.stringContaining(`${join(scratch, 'open')} above it is writable by others`),
    });
  });
});

describe('NBD over TCP with TLS', () => {
  it('serves nbds:// URIs: read with the CA and a client certificate, refused without TLS or with a certificate of another CA', async () => {
    const certificates = await makeTestCertificates(join(scratch, 'tls'));
    const port = await freePort();
    const settings = workerSettings({
      DOLLY_WORKER_ID: uniqueWorkerId(),
      DOLLY_WORKER_RUNTIME_DIR: join(scratch, 'rt'),
      DOLLY_WORKER_NBD_LISTEN: `127.0.0.1:${port}`,
      DOLLY_WORKER_NBD_TLS_DIR: certificates.serverDir,
    });
    expect(settings.tls).toEqual({ certDir: certificates.serverDir, verifyPeer: true });
    const started = await startAsWorker(settings);
    const live = await liveDisk(started);
    expect(live.uri).toBe(`nbds://127.0.0.1:${port}/vm`);

    const trusted = `${live.uri}?tls-certificates=${certificates.clientDir}`;
    expect(await nbdSize(trusted)).toBe(16 * MIB);
    const copy = join(scratch, 'copy.raw');
    await run('nbdcopy', ['--', trusted, copy]);
    expect((await lstat(copy)).size).toBe(16 * MIB);

    await expect(nbdSize(`nbd://127.0.0.1:${port}/vm`)).rejects.toThrow();
    await expect(
      nbdSize(`${live.uri}?tls-certificates=${certificates.untrustedClientDir}`),
    ).rejects.toThrow();
    // The worker reads its own live disks too (block maps after each job), as a client of its CA.
    const map = await started.engine.blockMap({ target: { diskId: 'vm' } });
    expect(map.capacityBytes).toBe(16 * MIB);
  });

  it('without verify-peer, a client that trusts the CA reads without a certificate of its own', async () => {
    const certificates = await makeTestCertificates(join(scratch, 'tls'));
    const port = await freePort();
    const settings = workerSettings({
      DOLLY_WORKER_ID: uniqueWorkerId(),
      DOLLY_WORKER_RUNTIME_DIR: join(scratch, 'rt'),
      DOLLY_WORKER_NBD_LISTEN: `127.0.0.1:${port}`,
      DOLLY_WORKER_NBD_TLS_DIR: certificates.serverDir,
      DOLLY_WORKER_NBD_TLS_VERIFY_PEER: 'false',
    });
    const live = await liveDisk(await startAsWorker(settings));
    expect(await nbdSize(`${live.uri}?tls-certificates=${certificates.untrustedClientDir}`)).toBe(
      16 * MIB,
    );
  });

  it('refuses TCP beyond loopback without TLS before any daemon starts', async () => {
    const settings = workerSettings({
      DOLLY_WORKER_RUNTIME_DIR: join(scratch, 'rt'),
      DOLLY_WORKER_NBD_LISTEN: '0.0.0.0:10809',
    });
    await expect(prepareStorageDaemon(settings)).rejects.toMatchObject({
      code: 'DISK.BAD_NBD_SERVER_CONFIG',
      message: expect.stringContaining('0.0.0.0:10809 is reachable from other machines'),
    });
    await expect(startAsWorker(settings)).rejects.toMatchObject({
      code: 'DISK.BAD_NBD_SERVER_CONFIG',
    });
  });

  it('says what is wrong with a listen address or a verify-peer setting it cannot read', () => {
    expect(() => workerSettings({ DOLLY_WORKER_NBD_LISTEN: '10809' })).toThrow(
      /DOLLY_WORKER_NBD_LISTEN must be host:port/,
    );
    expect(() =>
      workerSettings({ DOLLY_WORKER_NBD_TLS_DIR: '/x', DOLLY_WORKER_NBD_TLS_VERIFY_PEER: 'maybe' }),
    ).toThrow(/DOLLY_WORKER_NBD_TLS_VERIFY_PEER must be true or false/);
  });
});
