/**
 * The storage daemon's runtime folder holds its QMP socket (full control of every open disk), its
 * NBD socket and its pid file. Whoever can enter it, or replace it, owns the worker's disks: so
 * the daemon starts only in a real folder (not a symbolic link) of the worker's user, with no
 * access for group or others, in a parent nobody else may rename it out of.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../qemu/process';
import { MIB, type Sandbox, opId, sandbox, startEngine } from '../testing/fixtures';
import { type QemuDiskEngine } from '../engine/qemu-disk-engine';

jest.setTimeout(120_000);

const NOBODY = 65534;

let box: Sandbox;
let engine: QemuDiskEngine | undefined;
beforeEach(async () => {
  box = await sandbox('rtdir');
});
afterEach(async () => {
  await engine?.stop().catch(() => undefined);
  engine = undefined;
  await box.cleanup();
});

/** Storage daemons whose command line names this folder (none may start in a refused one). */
function daemonsIn(runtimeDir: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return (
          argv.some((a) => a.endsWith('qemu-storage-daemon')) &&
          argv.some((a) => a.includes(runtimeDir))
        );
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function refused(runtimeDir: string, reason: RegExp): Promise<void> {
  const error = await startEngine(box, { runtimeDir }).then(
    (started) => {
      engine = started;
      return undefined;
    },
    (failure: { code?: string; message?: string }) => failure,
  );
  expect(error).toMatchObject({ code: 'DISK.UNSAFE_RUNTIME_DIR' });
  expect(error!.message).toContain(runtimeDir);
  expect(error!.message).toMatch(reason);
  expect(daemonsIn(runtimeDir)).toEqual([]);
}

async function exportWorks(started: QemuDiskEngine): Promise<void> {
  await started.createDisk({
    operationId: opId(),
    datastoreId: 'ds1',
    diskId: 'vm',
    kind: 'disk',
    format: 'thin',
    capacityBytes: 16 * MIB,
  });
  const live = await started.openLive({ operationId: opId(), target: { diskId: 'vm' } });
  const size = JSON.parse((await run('nbdinfo', ['--size', '--json', live.uri])).stdout) as number;
  expect(size).toBe(16 * MIB);
}

describe('a runtime folder that is there already', () => {
  it('is refused when another user owns it, and no daemon starts', async () => {
    const runtimeDir = join(box.dir, 'rt-theirs');
    await mkdir(runtimeDir, { mode: 0o700 });
    await chown(runtimeDir, NOBODY, NOBODY);
    await refused(runtimeDir, /owned by uid 65534/);
    expect(await readdir(runtimeDir)).toEqual([]);
  });

  it('is refused when group or others may enter it (0755)', async () => {
    const runtimeDir = join(box.dir, 'rt-open');
    await mkdir(runtimeDir);
    await chmod(runtimeDir, 0o755);
    await refused(runtimeDir, /mode 0755/);
    expect(await readdir(runtimeDir)).toEqual([]);
  });

  it('is refused when it is a symbolic link, even to a folder of our own', async () => {
    const target = join(box.dir, 'rt-target');
    await mkdir(target, { mode: 0o700 });
    const runtimeDir = join(box.dir, 'rt-link');
    await symlink(target, runtimeDir);
    await refused(runtimeDir, /symbolic link/);
    expect(await readdir(target)).toEqual([]);
  });

  it('is refused when its parent lets others rename it away (writable by all, not sticky)', async () => {
    const parent = join(box.dir, 'open-parent');
    await mkdir(parent);
    await chmod(parent, 0o777);
    const runtimeDir = join(parent, 'rt');
    await refused(runtimeDir, /open-parent.*writable by others/);
  });

  it('is used when it is a real folder of ours with mode 0700', async () => {
    const runtimeDir = join(box.dir, 'rt-ours');
    await mkdir(runtimeDir);
    await chmod(runtimeDir, 0o700);
    engine = await startEngine(box, { runtimeDir });
    await exportWorks(engine);
  });
});

describe('a runtime folder that is missing', () => {
  it('is made with mode 0700 (in a sticky folder everyone may write to, like /tmp) and works', async () => {
    const shared = join(box.dir, 'shared-tmp');
    await mkdir(shared);
    await chmod(shared, 0o1777);
    const runtimeDir = join(shared, 'user', 'rt');
    engine = await startEngine(box, { runtimeDir });
    for (const made of [join(shared, 'user'), runtimeDir]) {
      const stats = await lstat(made);
      expect(stats.isDirectory()).toBe(true);
      expect(stats.mode & 0o7777).toBe(0o700);
      expect(stats.uid).toBe(process.geteuid!());
    }
    await exportWorks(engine);
  });

  it('is refused when its sockets would not fit a Unix socket address (107 bytes)', async () => {
    const runtimeDir = join(box.dir, 'r'.repeat(110 - box.dir.length));
    await refused(runtimeDir, /too long/);
  });
});
