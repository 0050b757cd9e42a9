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
export function publish(temporaryPath: string, finalPath: string): Promise<void> {
  return publishAll([[temporaryPath, finalPath]]);
}

/**
 * Readers see the old content or the new, never a mix, whatever happens in between.
 * `durable: false` skips waiting for the disk (a crash may then leave the old content).
 */
export async function writeFileAtomic(
  path: string,
  data: string,
  options: { durable?: boolean } = {},
): Promise<void> {
  const durable = options.durable ?? true;
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.writeFile(data);
    if (durable) await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
  if (durable) await fsyncPath(dirname(path));
}

/** Writes a new file and waits until its content is on disk (its name is not, yet). */
export async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  const handle = await open(path, 'wx', 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Publishes several finished files with one folder sync; they must share a folder. */
export async function publishAll(
  moves: Array<[temporaryPath: string, finalPath: string]>,
): Promise<void> {
  for (const [temporary] of moves) await fsyncPath(temporary);
  for (const [temporary, final] of moves) await rename(temporary, final);
  if (moves.length) await fsyncPath(dirname(moves[0][1]));
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
