import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ParsedDescriptor } from '../model';
import { chunkMemberName } from './chunks';
import {
  DEFAULT_MEMBER_LIMITS,
  MemberNameChecks,
  memberNameReasons,
  type MemberLimits,
  type PackageMember,
} from './member';
import { MemberContent } from './member-content';

const READ_BYTES = 1024 * 1024;
/** The same bound readPackage puts on a descriptor. */
export const MAX_DESCRIPTOR_BYTES = 16 * 1024 * 1024;

/**
 * The members of an OVF on disk, in the order an OVA would hold them: the descriptor, the
 * manifest and certificate beside it (`<name>.mf`, `<name>.cert`), then the files its References
 * name (each chunk of a chunked file). No file outside the descriptor's folder is ever opened:
 * names are flat, the real path of each file must be in the folder (a symlink inside the folder is
 * followed only when it stays there), and the file is opened without following a link and checked
 * to be a regular file on the handle itself. A referenced file that is absent is not yielded
 * (readPackage reports it missing); every other fault refuses the package when the list ends.
 */
export async function* folderMembers(
  ovfPath: string,
  describe: (xml: Buffer) => ParsedDescriptor,
  limits: MemberLimits = DEFAULT_MEMBER_LIMITS,
): AsyncGenerator<PackageMember, void, undefined> {
  const folder = await realpath(dirname(ovfPath));
  const names = new MemberNameChecks(limits);
  const descriptorName = basename(ovfPath);

  const descriptorFile = await openInFolder(folder, descriptorName, names);
  if (descriptorFile === null) return names.finish();
  const descriptor = await readWhole(descriptorFile, descriptorName, names);
  if (descriptor === null) return names.finish();
  yield { name: descriptorName, sizeBytes: descriptor.length, content: once(descriptor) };

  const base = descriptorName.replace(/\.ovf$/i, '');
  const parsed = describe(descriptor);
  const references = parsed.ok ? parsed.envelope.references : [];
  const wanted: Iterable<string>[] = [
    [`${base}.mf`],
    [`${base}.cert`],
    // An href that is no flat name is never looked for: readPackage refuses the References for it.
    ...references
      .filter((file) => memberNameReasons(file.href, limits).length === 0)
      .map((file) =>
        file.chunkSizeBytes === null ? [file.href] : chunkNames(file.href, limits.maxMembers),
      ),
  ];
  for (const candidates of wanted) {
    for (const name of candidates) {
      const file = await openInFolder(folder, name, names);
      if (file === null) break; // absent: the next chunk is not looked for either
      const content = new MemberContent(readChunks(file.handle));
      try {
        yield { name, sizeBytes: file.sizeBytes, content };
        await content.drain();
      } finally {
        await file.handle.close();
      }
    }
  }
  names.finish();
}

function* chunkNames(href: string, maxMembers: number): Generator<string> {
  for (let index = 0; index < maxMembers; index++) yield chunkMemberName(href, index);
}

interface OpenedFile {
  handle: FileHandle;
  sizeBytes: number;
}

/** Opens a member of the folder, or says why not (in `names`); null also when it is absent. */
async function openInFolder(
  folder: string,
  name: string,
  names: MemberNameChecks,
): Promise<OpenedFile | null> {
  if (!names.admit(name)) return null;
  let real: string;
  try {
    real = await realpath(join(folder, name));
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    names.reasons.push({
      code: 'OVF_FOLDER.UNREADABLE',
      detail: `${name}: ${(error as Error).message}`,
      at: name,
    });
    return null;
  }
  if (dirname(real) !== folder) {
    names.reasons.push({
      code: 'OVF_FOLDER.LINK_OUTSIDE',
      detail: `${JSON.stringify(name)} is a link that leads out of the descriptor's folder`,
      at: name,
    });
    return null;
  }
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: the path resolved above cannot be swapped for a link; O_NONBLOCK: a FIFO put
    // there does not hang the open (it is refused below).
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error: unknown) {
    names.reasons.push({
      code: 'OVF_FOLDER.UNREADABLE',
      detail: `${name}: ${(error as Error).message}`,
      at: name,
    });
    return null;
  }
  const stats = await handle.stat();
  if (!stats.isFile()) {
    await handle.close();
    names.reasons.push({
      code: 'OVF_FOLDER.NOT_REGULAR_FILE',
      detail: `${JSON.stringify(name)} is not a regular file`,
      at: name,
    });
    return null;
  }
  return { handle, sizeBytes: stats.size };
}

async function readWhole(
  file: OpenedFile,
  name: string,
  names: MemberNameChecks,
): Promise<Buffer | null> {
  try {
    if (file.sizeBytes > MAX_DESCRIPTOR_BYTES) {
      names.reasons.push({
        code: 'OVF.DESCRIPTOR_TOO_LARGE',
        detail: `descriptor of ${file.sizeBytes} bytes, at most ${MAX_DESCRIPTOR_BYTES}`,
        at: name,
      });
      return null;
    }
    const parts: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of readChunks(file.handle)) {
      bytes += chunk.length;
      // The file may grow after its stat: the bound holds on what is read.
      if (bytes > MAX_DESCRIPTOR_BYTES) {
        names.reasons.push({
          code: 'OVF.DESCRIPTOR_TOO_LARGE',
          detail: `descriptor over ${MAX_DESCRIPTOR_BYTES} bytes`,
          at: name,
        });
        return null;
      }
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  } finally {
    await file.handle.close();
  }
}

async function* readChunks(handle: FileHandle): AsyncGenerator<Buffer> {
  for (;;) {
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, READ_BYTES, null);
    if (bytesRead === 0) return;
    yield buffer.subarray(0, bytesRead);
  }
}

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}
