import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { canonicalPath } from '@dolly/disk-engine';
import {
  type ErrorReason,
  RuleViolationError,
  ValidationError,
  importPathReasons,
} from '@dolly/domain';
import { type PackageReason, PackageRefused, ovaMembers } from '@dolly/ovf';
import { packageReasonToError } from './import-definition';

/** The API reads a descriptor whole to check it before deciding; a larger one is refused. */
export const MAX_DESCRIPTOR_BYTES = 4 * 1024 * 1024;

/** A package's descriptor as the API read it, to check before anything is decided. */
export interface PackageDescriptor {
  /** The package as its caller named it (the .ova, or the .ovf). */
  packageName: string;
  descriptorName: string;
  xml: Buffer;
  /** Of `xml`, lower-case hex: what the import is planned with, and what the worker checks. */
  sha256: string;
}

/** A package's descriptor, read whole up to the bound. */
export async function readDescriptor(
  packageName: string,
  descriptorName: string,
  content: AsyncIterable<Buffer>,
): Promise<PackageDescriptor> {
  const xml = await readBounded(content, descriptorName);
  return {
    packageName,
    descriptorName,
    xml,
    sha256: createHash('sha256').update(xml).digest('hex'),
  };
}

const pointer = '/source/path';

/** Every reason a package path may not be read (`importPathReasons`), about the request's source.path. */
export const sourcePathReasons = (
  requested: string,
  canonical: string,
  roots: readonly string[],
): ErrorReason[] =>
  importPathReasons(requested, canonical, roots).map((reason) => ({ ...reason, pointer }));

/** The package's real path, strictly inside an import root; every reason otherwise (400). */
export async function confinedPackagePath(
  requested: string,
  roots: readonly string[],
): Promise<string> {
  const resolvedRoots = await Promise.all(
    roots.map((root) => canonicalPath(root).catch(() => root)),
  );
  const canonical = await canonicalPath(requested).catch(() => requested);
  const reasons = sourcePathReasons(requested, canonical, resolvedRoots);
  if (reasons.length > 0)
    throw new ValidationError(
      'IMPORT.PATH_REFUSED',
      `${requested} cannot be imported from`,
      reasons,
    );
  return canonical;
}

const refused = (reasons: PackageReason[]) =>
  new RuleViolationError(
    'IMPORT.REFUSED',
    'The package cannot be imported as asked',
    reasons.map(packageReasonToError),
  );

/**
 * The descriptor: an OVA's first member, which must be the .ovf (so that a package is checked
 * before its disks arrive), read whole up to MAX_DESCRIPTOR_BYTES. The members after it are left
 * unread. The archive's own refusals (a first member that is a link, a traversal) are reasons.
 */
export async function firstMemberDescriptor(
  tar: AsyncIterable<Buffer> | NodeJS.ReadableStream,
  packageName: string,
): Promise<PackageDescriptor> {
  // Members refused before the first one yielded were the archive's first: their reasons are
  // said with the refusal, not left for the archive's end, which is not read here.
  const skipped: PackageReason[] = [];
  const iterator = ovaMembers(tar, { onRefusedMember: (reasons) => skipped.push(...reasons) })[
    Symbol.asyncIterator
  ]();
  try {
    const first = await iterator.next();
    if (first.done)
      throw refused([
        ...skipped,
        { code: 'PACKAGE.EMPTY', detail: `${packageName} holds no member`, at: packageName },
      ]);
    const member = first.value;
    if (skipped.length > 0 || !member.name.toLowerCase().endsWith('.ovf'))
      throw refused([
        ...skipped,
        {
          code: 'PACKAGE.DESCRIPTOR_NOT_FIRST',
          detail: `The first member of ${packageName} that is a plain file is ${JSON.stringify(member.name)}, not the .ovf descriptor: a package starts with its descriptor`,
          at: member.name,
        },
      ]);
    return await readDescriptor(packageName, member.name, member.content);
  } catch (error) {
    if (error instanceof PackageRefused) throw refused([...skipped, ...error.reasons]);
    throw error;
  } finally {
    await iterator.return?.().catch(() => undefined);
  }
}

/** A descriptor's bytes, whole, refused past the bound (never read further than it). */
async function readBounded(content: AsyncIterable<Buffer>, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of content) {
    size += chunk.length;
    if (size > MAX_DESCRIPTOR_BYTES)
      throw refused([
        {
          code: 'OVF.DESCRIPTOR_TOO_LARGE',
          detail: `The descriptor ${name} exceeds ${MAX_DESCRIPTOR_BYTES} bytes`,
          at: name,
        },
      ]);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The descriptor of a package under an import root: the .ovf itself, or the .ova's first member. */
export async function descriptorAtPath(
  path: string,
  packageName: string,
): Promise<PackageDescriptor> {
  if (path.toLowerCase().endsWith('.ovf')) {
    const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
      throw notReadable(packageName, error);
    });
    try {
      const content = handle.createReadStream({ autoClose: false, end: MAX_DESCRIPTOR_BYTES });
      return await readDescriptor(packageName, basename(path), content);
    } finally {
      await handle.close();
    }
  }
  const stream = createReadStream(path);
  const opening = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opening.catch((error: NodeJS.ErrnoException) => {
      throw notReadable(packageName, error);
    });
    return await firstMemberDescriptor(stream, packageName);
  } finally {
    stream.destroy();
  }
}

function notReadable(packageName: string, error: NodeJS.ErrnoException): ValidationError {
  return new ValidationError('IMPORT.PATH_REFUSED', `${packageName} cannot be read`, [
    {
      code: error.code === 'ENOENT' ? 'IMPORT.PACKAGE_NOT_FOUND' : 'IMPORT.PACKAGE_UNREADABLE',
      detail: `${packageName} cannot be read (${error.code ?? 'error'})`,
      pointer,
    },
  ]);
}
