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

/** The bytes of a file, without its runs of zeros: what a sparse copy has to write. */
export interface SparseImage {
  sizeBytes: number;
  chunks: Array<{ offsetBytes: number; data: Buffer }>;
}

const SPARSE_BLOCK = 4096;

export function sparseImage(bytes: Buffer): SparseImage {
  const chunks: SparseImage['chunks'] = [];
  for (let offset = 0; offset < bytes.length; offset += SPARSE_BLOCK) {
    const block = bytes.subarray(offset, offset + SPARSE_BLOCK);
    if (!block.some((b) => b !== 0)) continue;
    const last = chunks.at(-1);
    if (last && last.offsetBytes + last.data.length === offset)
      last.data = Buffer.concat([last.data, block]);
    else chunks.push({ offsetBytes: offset, data: Buffer.from(block) });
  }
  return { sizeBytes: bytes.length, chunks };
}

/**
 * Writes a new file with the same content as the image (holes read as zeros) and waits until
 * it is on disk (its name is not, yet).
 */
export async function writeSparseDurably(path: string, image: SparseImage): Promise<void> {
  const handle = await open(path, 'wx', 0o644);
  try {
    for (const { offsetBytes, data } of image.chunks)
      await handle.write(data, 0, data.length, offsetBytes);
    await handle.truncate(image.sizeBytes);
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

/** How far a log file is grown ahead, in zeros. */
const LOG_STEP_BYTES = 1024 * 1024;

/**
 * An append-only file of lines, each on disk before `append` resolves. The file is grown ahead
 * in zero-filled steps (written and synced once per step), so an append overwrites blocks that
 * already exist and its fdatasync flushes data only: no journal commit for a new size or new
 * blocks, which is most of the cost of a sync on ext4. The log ends at its first NUL byte.
 *
 * Several processes may append to one log, one at a time (the datastore lock): each moves its
 * end to what it read (`seek`) before appending, and grows the file only past its current size,
 * so it never writes zeros over lines another process appended.
 */
export class DurableLog {
  private growing?: Promise<void>;

  private constructor(
    private readonly handle: FileHandle,
    private endBytes: number,
    private allocatedBytes: number,
    private readonly whenFull: <T>(write: () => Promise<T>) => Promise<T>,
  ) {}

  /**
   * Opens (or creates) a log whose content ends at `endBytes`. `whenFull` runs each growth of
   * the file: it may free space (the datastore's reserve) and run it again when the file
   * system is full.
   */
  static async open(
    path: string,
    endBytes = 0,
    whenFull: <T>(write: () => Promise<T>) => Promise<T> = (write) => write(),
  ): Promise<DurableLog> {
    const handle = await open(path, 'a+', 0o600).then(async (h) => {
      await h.close();
      return open(path, 'r+');
    });
    try {
      const { size } = await handle.stat();
      const log = new DurableLog(handle, endBytes, size, whenFull);
      await log.reserve(endBytes + 1);
      return log;
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Where the next line goes: the end of the content as last read. */
  seek(endBytes: number): void {
    this.endBytes = endBytes;
  }

  async append(line: string): Promise<void> {
    const bytes = Buffer.from(`${line}\n`);
    const at = this.endBytes;
    try {
      await this.reserve(at + bytes.length);
    } catch (error) {
      this.endBytes = at;
      throw error;
    }
    this.endBytes = at + bytes.length;
    await this.handle.write(bytes, 0, bytes.length, at);
    await this.handle.datasync();
  }

  async close(): Promise<void> {
    await this.growing;
    await this.handle.close();
  }

  private async reserve(bytes: number): Promise<void> {
    while (this.allocatedBytes < bytes) {
      this.growing ??= (async () => {
        // Another process may have grown the file since: zeros go past its size only.
        const { size } = await this.handle.stat();
        if (size > this.allocatedBytes) {
          this.allocatedBytes = size;
          return;
        }
        const zeros = Buffer.alloc(LOG_STEP_BYTES);
        await this.whenFull(async () => {
          await this.handle.write(zeros, 0, zeros.length, this.allocatedBytes);
          await this.handle.sync();
        });
        this.allocatedBytes += LOG_STEP_BYTES;
      })().finally(() => (this.growing = undefined));
      await this.growing;
    }
  }
}
