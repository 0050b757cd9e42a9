/**
 * The few file-system moves that crash safety rests on. A file is complete on disk before its
 * name is published (fsync, then rename), and a rename is durable only once its folder is synced.
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Makes a finished temporary file visible under its final name, durably. */
export async function publish(temporaryPath: string, finalPath: string): Promise<void> {
  await fsyncPath(temporaryPath);
  await rename(temporaryPath, finalPath);
  await fsyncPath(dirname(finalPath));
}

/** Readers see the old content or the new, never a mix, whatever happens in between. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
  await fsyncPath(dirname(path));
}

/** An append-only file whose every line is on disk before `append` resolves. */
export class DurableLog {
  private constructor(private readonly handle: FileHandle) {}

  static async open(path: string): Promise<DurableLog> {
    return new DurableLog(await open(path, 'a', 0o600));
  }

  async append(line: string): Promise<void> {
    await this.handle.write(`${line}\n`);
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
