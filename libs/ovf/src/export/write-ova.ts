import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';

export interface OvaFile {
  /** The member name, as the descriptor's References name it. */
  name: string;
  path: string;
  sizeBytes: number;
  /** Lower-case hex, as hashFile gives it. */
  sha256: string;
}

export interface OvaParts {
  descriptorName: string;
  descriptor: string;
  files: OvaFile[];
}

export interface WriteOvaOptions {
  signal?: AbortSignal;
  /** Called with each piece of the archive as it leaves, in bytes. */
  onBytes?(n: number): void;
}

/** The largest member a USTAR header can state: eleven octal digits. */
export const USTAR_MAX_MEMBER_BYTES = 8 ** 11 - 1;

/**
 * An OVA as ovftool lays one out (OVF 2.0, "OVF package"): a USTAR archive of the descriptor, the
 * manifest `<descriptor base>.mf` with a `SHA256(name)= hex` line for the descriptor and every
 * file, then each file streamed from its path at the pace the reader takes it. A file whose size
 * differs from sizeBytes (before or while it is read) destroys the stream with an error, as do
 * the signal and an error reading a file.
 *
 * Throws at once (RangeError) for parts no USTAR archive can hold as asked: a name that is not a
 * plain ASCII name of at most 100 bytes, a name twice, a member of 8 GiB or more (such a file must
 * be chunked, ovf:chunkSize, by whoever writes the descriptor).
 */
export function writeOva(parts: OvaParts, options: WriteOvaOptions = {}): Readable {
  const manifestName = `${parts.descriptorName.replace(/\.ovf$/i, '')}.mf`;
  checkMembers(parts, manifestName);
  const descriptor = Buffer.from(parts.descriptor, 'utf8');
  const manifest = Buffer.from(
    [
      manifestLine(parts.descriptorName, createHash('sha256').update(descriptor).digest('hex')),
      ...parts.files.map((file) => manifestLine(file.name, file.sha256)),
    ].join(''),
    'utf8',
  );

  const archive = tarPack();
  const mtime = new Date();
  const header = (name: string, size: number) => ({
    name,
    size,
    mode: 0o644,
    mtime,
    type: 'file' as const,
  });

  const produce = async () => {
    await addBuffer(archive, header(parts.descriptorName, descriptor.length), descriptor);
    await addBuffer(archive, header(manifestName, manifest.length), manifest);
    for (const file of parts.files)
      await addFile(archive, header(file.name, file.sizeBytes), file, options.signal);
    archive.finalize();
  };
  produce().catch((error: unknown) => archive.destroy(error as Error));

  async function* bytes(): AsyncGenerator<Buffer> {
    for await (const chunk of archive as AsyncIterable<Buffer>) {
      options.signal?.throwIfAborted();
      options.onBytes?.(chunk.length);
      yield chunk;
    }
  }
  const out = Readable.from(bytes(), { objectMode: false });
  const abort = () => out.destroy(options.signal?.reason as Error);
  if (options.signal?.aborted) abort();
  else options.signal?.addEventListener('abort', abort, { once: true });
  out.once('close', () => {
    options.signal?.removeEventListener('abort', abort);
    // Whoever stops reading early ends the archive and the file being read with it.
    archive.destroy();
  });
  return out;
}

function manifestLine(name: string, sha256: string): string {
  return `SHA256(${name})= ${sha256}\n`;
}

function checkMembers(parts: OvaParts, manifestName: string): void {
  const names = [parts.descriptorName, manifestName, ...parts.files.map((file) => file.name)];
  const seen = new Set<string>();
  for (const name of names) {
    // Plain names only: USTAR's 100-byte name field, no directory, nothing a reader would resolve.
    if (!/^[A-Za-z0-9._+-]{1,100}$/.test(name) || name === '.' || name === '..')
      throw new RangeError(
        `OVA member name "${name}" is not a plain ASCII file name of at most 100 bytes`,
      );
    if (seen.has(name)) throw new RangeError(`OVA member "${name}" named twice`);
    seen.add(name);
  }
  for (const file of parts.files) {
    if (
      !Number.isSafeInteger(file.sizeBytes) ||
      file.sizeBytes < 0 ||
      file.sizeBytes > USTAR_MAX_MEMBER_BYTES
    )
      throw new RangeError(
        `OVA member "${file.name}" of ${file.sizeBytes} bytes: USTAR holds 0 to ${USTAR_MAX_MEMBER_BYTES} bytes (chunk it)`,
      );
    if (!/^[0-9a-f]{64}$/.test(file.sha256))
      throw new RangeError(`OVA member "${file.name}" has no SHA-256 hex digest`);
  }
}

type Archive = ReturnType<typeof tarPack>;
type MemberHeader = Parameters<Archive['entry']>[0];

function addBuffer(archive: Archive, header: MemberHeader, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    archive.entry(header, data, (error) => (error ? reject(error) : resolve()));
  });
}

async function addFile(
  archive: Archive,
  header: MemberHeader,
  file: OvaFile,
  signal?: AbortSignal,
): Promise<void> {
  const before = await stat(file.path);
  if (!before.isFile() || before.size !== file.sizeBytes)
    throw new Error(
      `OVA member "${file.name}": ${file.path} is ${before.size} bytes, ${file.sizeBytes} were declared`,
    );
  let entryError: Error | null = null;
  const done = new Promise<void>((resolve, reject) => {
    const entry = archive.entry(header, (error) => (error ? reject(error) : resolve()));
    void (async () => {
      try {
        let written = 0;
        if (file.sizeBytes > 0) {
          // Read exactly the declared bytes: a file that grew cannot overflow its member.
          const source = createReadStream(file.path, {
            start: 0,
            end: file.sizeBytes - 1,
            highWaterMark: 1 << 20,
            signal,
          });
          for await (const chunk of source) {
            // A reader that stopped destroys the archive and this entry: stop reading the file (closes it).
            if (entry.destroying)
              throw new Error(
                `OVA member "${file.name}": the archive was closed while it was written`,
              );
            written += (chunk as Buffer).length;
            if (!entry.write(chunk)) await drainedOrClosed(entry);
          }
          if (entry.destroying)
            throw new Error(
              `OVA member "${file.name}": the archive was closed while it was written`,
            );
        }
        const after = await stat(file.path);
        if (written !== file.sizeBytes || after.size !== file.sizeBytes)
          throw new Error(
            `OVA member "${file.name}": ${file.path} changed size while read (${after.size} bytes, ${file.sizeBytes} declared)`,
          );
        // streamx's end(data) ends without writing when data is undefined.
        entry.end(undefined);
      } catch (error) {
        entryError = error as Error;
        entry.destroy(entryError);
        reject(entryError);
      }
    })();
  });
  await done;
  if (entryError) throw entryError;
}

function drainedOrClosed(entry: ReturnType<Archive['entry']>): Promise<void> {
  return new Promise((resolve) => {
    if (entry.destroying) return resolve();
    const settle = () => {
      entry.off('drain', settle);
      entry.off('close', settle);
      resolve();
    };
    entry.on('drain', settle);
    entry.on('close', settle);
  });
}
