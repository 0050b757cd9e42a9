import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import { chunkMemberName } from '../package/chunks';
import { transientBytesPassed } from '../young-garbage';

export interface OvaFile {
  /** The member name, as the descriptor's References name it. */
  name: string;
  path: string;
  sizeBytes: number;
  /** Lower-case hex, as hashFile gives it. */
  sha256: string;
  /**
   * Stored as consecutive chunks of chunkBytes (the last may be shorter), each its own member
   * named by chunkMemberName, with the lower-case hex SHA-256 of each chunk in order: the
   * descriptor must say ovf:chunkSize of the same value.
   */
  chunks?: { chunkBytes: number; sha256: string[] };
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
 * member, then each file streamed from its path at the pace the reader takes it: as one member,
 * or, with `chunks`, as one member per chunk read from its range of the file. A file whose size
 * differs from sizeBytes (before or while it is read) destroys the stream with an error, as do
 * the signal and an error reading a file.
 *
 * Throws at once (RangeError) for parts no USTAR archive can hold as asked: a member name that is
 * not a plain ASCII name of at most 100 bytes, a name twice, a member of 8 GiB or more (such a
 * file must be chunked, ovf:chunkSize, by whoever writes the descriptor), chunks that do not
 * cover the file or lack a digest.
 */
export function writeOva(parts: OvaParts, options: WriteOvaOptions = {}): Readable {
  const manifestName = `${parts.descriptorName.replace(/\.ovf$/i, '')}.mf`;
  checkFiles(parts.files);
  const members = parts.files.map(membersOf);
  checkNames([parts.descriptorName, manifestName, ...members.flat().map((member) => member.name)]);
  const descriptor = Buffer.from(parts.descriptor, 'utf8');
  const manifest = Buffer.from(
    [
      manifestLine(parts.descriptorName, createHash('sha256').update(descriptor).digest('hex')),
      ...members.flat().map((member) => manifestLine(member.name, member.sha256)),
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
    for (const [index, file] of parts.files.entries()) {
      await checkSize(file);
      for (const member of members[index])
        await addRange(
          archive,
          header(member.name, member.sizeBytes),
          file,
          member,
          options.signal,
        );
    }
    archive.finalize();
  };
  produce().catch((error: unknown) => archive.destroy(error as Error));

  async function* bytes(): AsyncGenerator<Buffer> {
    for await (const chunk of archive as AsyncIterable<Buffer>) {
      options.signal?.throwIfAborted();
      options.onBytes?.(chunk.length);
      transientBytesPassed(chunk.length);
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

/** A member of the archive holding bytes [start, start + sizeBytes) of a file. */
interface FileMember {
  name: string;
  start: number;
  sizeBytes: number;
  sha256: string;
}

function membersOf(file: OvaFile): FileMember[] {
  if (!file.chunks)
    return [{ name: file.name, start: 0, sizeBytes: file.sizeBytes, sha256: file.sha256 }];
  const { chunkBytes, sha256 } = file.chunks;
  return sha256.map((digest, index) => ({
    name: chunkMemberName(file.name, index),
    start: index * chunkBytes,
    sizeBytes: Math.min(chunkBytes, file.sizeBytes - index * chunkBytes),
    sha256: digest,
  }));
}

function checkFiles(files: OvaFile[]): void {
  const isDigest = (hex: string) => /^[0-9a-f]{64}$/.test(hex);
  for (const file of files) {
    if (!Number.isSafeInteger(file.sizeBytes) || file.sizeBytes < 0)
      throw new RangeError(`OVA file "${file.name}" of ${file.sizeBytes} bytes`);
    if (!isDigest(file.sha256))
      throw new RangeError(`OVA member "${file.name}" has no SHA-256 hex digest`);
    if (!file.chunks) {
      if (file.sizeBytes > USTAR_MAX_MEMBER_BYTES)
        throw new RangeError(
          `OVA member "${file.name}" of ${file.sizeBytes} bytes: USTAR holds 0 to ${USTAR_MAX_MEMBER_BYTES} bytes (chunk it)`,
        );
      continue;
    }
    const { chunkBytes, sha256 } = file.chunks;
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > USTAR_MAX_MEMBER_BYTES)
      throw new RangeError(
        `OVA file "${file.name}": chunks of ${chunkBytes} bytes; USTAR holds members of 1 to ${USTAR_MAX_MEMBER_BYTES} bytes`,
      );
    const count = Math.ceil(file.sizeBytes / chunkBytes);
    if (!Array.isArray(sha256) || sha256.length !== count || !sha256.every(isDigest))
      throw new RangeError(
        `OVA file "${file.name}" of ${file.sizeBytes} bytes in chunks of ${chunkBytes}: ${count} chunk SHA-256 hex digests needed`,
      );
  }
}

function checkNames(names: string[]): void {
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
}

type Archive = ReturnType<typeof tarPack>;
type MemberHeader = Parameters<Archive['entry']>[0];

function addBuffer(archive: Archive, header: MemberHeader, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    archive.entry(header, data, (error) => (error ? reject(error) : resolve()));
  });
}

async function checkSize(file: OvaFile): Promise<void> {
  const before = await stat(file.path);
  if (!before.isFile() || before.size !== file.sizeBytes)
    throw new Error(
      `OVA member "${file.name}": ${file.path} is ${before.size} bytes, ${file.sizeBytes} were declared`,
    );
}

async function addRange(
  archive: Archive,
  header: MemberHeader,
  file: OvaFile,
  member: FileMember,
  signal?: AbortSignal,
): Promise<void> {
  let entryError: Error | null = null;
  const done = new Promise<void>((resolve, reject) => {
    const entry = archive.entry(header, (error) => (error ? reject(error) : resolve()));
    // Its error destroys the archive with it and reaches the caller through `done`; unheard, an
    // entry's 'error' event would be thrown as uncaught.
    entry.on('error', () => undefined);
    void (async () => {
      try {
        let written = 0;
        if (member.sizeBytes > 0) {
          // Read exactly the member's bytes: a file that grew cannot overflow its member.
          const source = createReadStream(file.path, {
            start: member.start,
            end: member.start + member.sizeBytes - 1,
            highWaterMark: 1 << 20,
            signal,
          });
          for await (const chunk of source) {
            // A reader that stopped destroys the archive and this entry: stop reading the file (closes it).
            if (entry.destroying)
              throw new Error(
                `OVA member "${member.name}": the archive was closed while it was written`,
              );
            written += (chunk as Buffer).length;
            if (!entry.write(chunk)) await drainedOrClosed(entry);
          }
          if (entry.destroying)
            throw new Error(
              `OVA member "${member.name}": the archive was closed while it was written`,
            );
        }
        const after = await stat(file.path);
        if (written !== member.sizeBytes || after.size !== file.sizeBytes)
          throw new Error(
            `OVA member "${member.name}": ${file.path} changed size while read (${after.size} bytes, ${file.sizeBytes} declared)`,
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
