import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** A file's size and SHA-256 (lower-case hex), read as a stream: memory stays flat whatever its size. */
export async function hashFile(
  path: string,
  options: { signal?: AbortSignal } = {},
): Promise<{ sizeBytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of createReadStream(path, {
    highWaterMark: 1 << 20,
    signal: options.signal,
  })) {
    hash.update(chunk as Buffer);
    sizeBytes += (chunk as Buffer).length;
  }
  return { sizeBytes, sha256: hash.digest('hex') };
}
