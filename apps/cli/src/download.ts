import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { DollyClient } from './client';
import { byteProgress } from './progress';

/**
 * A streamed answer (an OVA, an audit export) saved as it arrives: into `output`, written beside
 * it and renamed once whole and synced, so a cut download never looks complete (its bytes counted
 * on stderr); or onto stdout when no file is named. Ctrl-C stops it and leaves no file.
 */
export async function download(
  client: DollyClient,
  path: string,
  options: { output?: string; accept?: string; label: string },
): Promise<void> {
  const interrupted = new AbortController();
  const onInterrupt = () => interrupted.abort();
  process.on('SIGINT', onInterrupt);
  const { output } = options;
  const partial = output && `${output}.${randomBytes(4).toString('hex')}.part`;
  let progress: ReturnType<typeof byteProgress> | undefined;
  try {
    const response = await client.exchange('GET', path, {
      headers: options.accept ? { accept: options.accept } : {},
      signal: interrupted.signal,
    });
    const length = response.headers.get('content-length');
    const counted = output
      ? byteProgress(
          process.stderr,
          `${options.label} to ${basename(output)}`,
          length ? Number(length) : null,
        )
      : undefined;
    progress = counted;
    await pipeline(
      Readable.fromWeb(response.body! as NodeReadableStream),
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          counted?.add(chunk.length);
          done(null, chunk);
        },
      }),
      partial ? createWriteStream(partial, { flags: 'wx' }) : process.stdout,
    );
    if (partial && output) {
      const handle = await open(partial, 'r+');
      await handle.sync().finally(() => handle.close());
      await rename(partial, output);
    }
  } catch (error) {
    if (partial) await rm(partial, { force: true });
    throw error;
  } finally {
    progress?.stop();
    process.off('SIGINT', onInterrupt);
  }
}
