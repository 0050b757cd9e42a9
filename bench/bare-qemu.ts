/**
 * The bare side of the clone benchmark: what an operator would run by hand on the same files, as
 * separate processes, timed. Dolly's engine publishes every new image durably (fsync of the file,
 * rename, fsync of the folder), so each bare step reports its fsync apart: the like-for-like
 * figure is the sum, the one without it says how much of both sides is the disk flush.
 */
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';

export interface BareTiming {
  /** The qemu-img (or dd) process alone, data possibly still in the page cache. */
  writeMs: number;
  /** `sync FILE FOLDER`: fsync of the new file and of its folder. */
  fsyncMs: number;
}

/** Runs a process to its end; rejects with its stderr when it exits non-zero. */
export function exec(command: string, args: string[], cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr}`)),
    );
  });
}

/** The like-for-like figure: the process and its fsync. */
export const bareMs = (t: BareTiming) => t.writeMs + t.fsyncMs;

async function timedThenSynced(file: string, write: () => Promise<void>): Promise<BareTiming> {
  const start = performance.now();
  await write();
  const written = performance.now();
  await exec('sync', [file, dirname(file)]);
  return { writeMs: written - start, fsyncMs: performance.now() - written };
}

/** A full clone by hand: the source chain streamed into a new standalone thin qcow2. */
export function bareConvert(
  sourceTop: string,
  target: string,
  clusterSizeBytes: number,
): Promise<BareTiming> {
  // -U: the storage daemon may hold the chain open (read-only); it changes nothing in the copy.
  return timedThenSynced(target, () =>
    exec('qemu-img', [
      'convert',
      '-U',
      '-f',
      'qcow2',
      '-O',
      'qcow2',
      '-o',
      `cluster_size=${clusterSizeBytes},preallocation=off`,
      sourceTop,
      target,
    ]),
  );
}

/** A linked clone by hand: an empty overlay on the snapshot's layer, in the same folder. */
export function bareOverlay(folder: string, backingFileName: string, overlay: string) {
  return timedThenSynced(`${folder}/${overlay}`, () =>
    exec(
      'qemu-img',
      ['create', '-q', '-f', 'qcow2', '-b', backingFileName, '-F', 'qcow2', overlay],
      folder,
    ),
  );
}

/** The disk's raw write floor for the same bytes: the image file copied as it is, no qcow2 work. */
export function rawCopy(file: string, target: string): Promise<BareTiming> {
  return timedThenSynced(target, () =>
    exec('dd', [`if=${file}`, `of=${target}`, 'bs=4M', 'status=none']),
  );
}
