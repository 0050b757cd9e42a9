/**
 * A full datastore (ENOSPC) can still delete disks and free space: the operation log keeps a
 * reserve in the datastore (`.dolly/reserve`), let go when a write of the log finds the file
 * system full and made again once there is room. Run on a small file system of its own: a
 * size-limited tmpfs, mounted for the test (as root) and unmounted after; skipped, saying why,
 * where mounting is not allowed.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIB, opId } from '../testing/fixtures';
import { QemuDiskEngine } from './qemu-disk-engine';

jest.setTimeout(120_000);

let dir: string;
let mountPoint: string;
let mounted = false;
let skipWhy: string | undefined;
let engine: QemuDiskEngine | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dolly-full-'));
  mountPoint = join(dir, 'fs');
  await mkdir(mountPoint);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', mountPoint], {
      stdio: 'pipe',
    });
    mounted = true;
  } catch (error) {
    skipWhy = `cannot mount a 16 MiB tmpfs here (${(error as Error).message.split('\n')[0]}): not root, or no CAP_SYS_ADMIN in this container`;
  }
});
afterAll(async () => {
  await engine?.stop().catch(() => undefined);
  // Lazily, should anything of a failed test still hold it: it is gone once let go.
  if (mounted) execFileSync('umount', ['-l', mountPoint]);
  await rm(dir, { recursive: true, force: true });
});

/** Writes a file until the file system is full: nothing else fits. */
async function fill(path: string): Promise<number> {
  const handle = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let written = 0;
  try {
    for (;;) {
      await handle.write(chunk, 0, chunk.length, written);
      written += chunk.length;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
    // Whatever part of a chunk fits goes too: not a byte is left.
    for (let size = chunk.length / 2; size >= 512; size /= 2)
      try {
        await handle.write(chunk, 0, size, written);
        written += size;
      } catch {
        // smaller next time
      }
  } finally {
    await handle.close();
  }
  return written;
}

it('deletes disks and frees space on a full datastore', async () => {
  if (skipWhy) {
    console.warn(`skipped: ${skipWhy}`);
    return;
  }
  const datastorePath = join(mountPoint, 'ds1');
  await mkdir(datastorePath);
  const started = await QemuDiskEngine.start({
    datastores: [{ datastoreId: 'ds1', path: datastorePath }],
    runtimeDir: join(dir, 'rt'),
  });
  engine = started.engine;
  for (const diskId of ['d1', 'd2', 'd3'])
    await engine.createDisk({
      operationId: opId(),
      datastoreId: 'ds1',
      diskId,
      format: 'thick-lazy-zeroed',
      capacityBytes: MIB,
    });
  await fill(join(mountPoint, 'filler'));
  expect((await statfs(mountPoint)).bavail).toBe(0);

  // Full: nothing new fits, and saying so is a clear error, not a broken log.
  await expect(
    engine.createDisk({
      operationId: opId(),
      datastoreId: 'ds1',
      diskId: 'd4',
      format: 'thin',
      capacityBytes: MIB,
    }),
  ).rejects.toMatchObject({ code: expect.stringMatching(/^DISK\./) });

  // The worker restarts while it is full (a checkpoint starts a new log segment on the way).
  await engine.stop();
  engine = undefined;
  const restarted = await QemuDiskEngine.start({
    datastores: [{ datastoreId: 'ds1', path: datastorePath }],
    runtimeDir: join(dir, 'rt'),
  });
  engine = restarted.engine;
  expect(restarted.report.inaccessible).toEqual([]);

  // Deleting still works, one disk after another: each frees space.
  for (const diskId of ['d1', 'd2', 'd3'])
    await expect(engine.deleteDisk({ operationId: opId(), diskId })).resolves.toBeDefined();
  expect(engine.inventory().disks).toEqual([]);
  expect((await statfs(mountPoint)).bavail).toBeGreaterThan(0);

  // The log is whole: an engine started again reads the same (empty) datastore.
  await engine.stop();
  engine = undefined;
  await rm(join(mountPoint, 'filler'));
  const again = await QemuDiskEngine.start({
    datastores: [{ datastoreId: 'ds1', path: datastorePath }],
    runtimeDir: join(dir, 'rt'),
  });
  engine = again.engine;
  expect(again.report.inaccessible).toEqual([]);
  expect(engine.inventory().disks).toEqual([]);
  // The reserve is made again once there is room.
  await expect(stat(join(datastorePath, '.dolly', 'reserve'))).resolves.toMatchObject({
    size: expect.any(Number),
  });
});
