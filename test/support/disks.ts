import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A layer's image file on its datastore folder (the engine names them after the layer). */
export const layerFile = (folder: string, layerId: string) => join(folder, `${layerId}.qcow2`);

/** Bytes the file system gives the file (blocks), not its apparent size. */
export const allocatedBytes = (file: string) => statSync(file).blocks * 512;

export async function qemuImgInfo(
  file: string,
): Promise<{ format: string; 'virtual-size': number; 'backing-filename'?: string }> {
  const { stdout } = await run('qemu-img', ['info', '--output=json', '-U', file]);
  return JSON.parse(stdout);
}

/** qemu-img compare: true when both read the same (exit 0), false when they differ (exit 1). */
export async function sameContent(a: string, b: string): Promise<boolean> {
  try {
    await run('qemu-img', ['compare', '-U', a, b]);
    return true;
  } catch (error) {
    if ((error as { code?: number }).code === 1) return false;
    throw error;
  }
}

/** Runs qemu-io commands on an image or an NBD URI (`-f raw` for NBD: the export is the guest's view). */
export async function qemuIo(target: string, ...commands: string[]): Promise<string> {
  // Images that a storage daemon may hold open are read shared, hence read-only (-r -U).
  const args = target.startsWith('nbd')
    ? ['-f', 'raw', target]
    : ['-r', '-U', '-f', 'qcow2', target];
  const { stdout } = await run('qemu-io', [...commands.flatMap((c) => ['-c', c]), ...args]);
  if (/fail|error|Pattern verification failed/i.test(stdout))
    throw new Error(`qemu-io ${commands.join('; ')}: ${stdout}`);
  return stdout;
}

/** Whether a range reads as a byte pattern (qemu-io read -P). */
export async function reads(
  target: string,
  pattern: number,
  offset: number,
  length: number,
): Promise<boolean> {
  try {
    await qemuIo(target, `read -P ${pattern} ${offset} ${length}`);
    return true;
  } catch {
    return false;
  }
}

export function fingerprint(file: string) {
  const stat = statSync(file);
  return {
    inode: stat.ino,
    mtimeMs: stat.mtimeMs,
    size: stat.size,
    sha256: createHash('sha256').update(readFileSync(file)).digest('hex'),
  };
}

/** The images in a datastore folder (the engine's metadata folder left out). */
export const images = (folder: string) =>
  readdirSync(folder)
    .filter((name) => name.endsWith('.qcow2'))
    .sort();

/** Anything the engine writes while working: temporary files, which must not outlive an operation. */
export const leftovers = (folder: string) =>
  readdirSync(folder).filter((name) => name.endsWith('.tmp'));
