/**
 * OVF packages as other tools make them, for the specs of import and export: the disk converted
 * by qemu-img to a streamOptimized VMDK, the manifest from sha256sum's digests, the archive by GNU
 * tar in USTAR. The descriptor is the spec's own (most write `ovfDescriptor`'s plain shape).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const sha256Hex = (data: string | Buffer): string =>
  createHash('sha256').update(data).digest('hex');

/** qemu-img's streamOptimized VMDK of `source` (of `sourceFormat`, else as probed); returns the VMDK's size. */
export async function convertToStreamOptimized(
  source: string,
  vmdk: string,
  sourceFormat?: string,
): Promise<number> {
  const format = sourceFormat ? ['-f', sourceFormat] : [];
  await run('qemu-img', [
    'convert',
    '-q',
    ...format,
    '-O',
    'vmdk',
    '-o',
    'subformat=streamOptimized',
    source,
    vmdk,
  ]);
  return (await stat(vmdk)).size;
}

/**
 * sha256sum's digests of `members` (in `dir`), in the notation an OVF manifest uses
 * (`SHA256(name)= digest`, as ovftool writes it). `wrongDigestOf` gets its digest with the first
 * hex digit changed, as a package damaged on its way would carry it.
 */
export async function sha256sumManifest(
  dir: string,
  members: string[],
  { wrongDigestOf }: { wrongDigestOf?: string } = {},
): Promise<string> {
  const { stdout } = await run('sha256sum', members, { cwd: dir });
  return stdout
    .trim()
    .split('\n')
    .map((line) => {
      const [hex, name] = line.split(/\s+\*?/);
      const digest = name === wrongDigestOf ? `${hex[0] === '0' ? '1' : '0'}${hex.slice(1)}` : hex;
      return `SHA256(${name})= ${digest}\n`;
    })
    .join('');
}

/**
 * GNU tar's USTAR archive of `members` of `dir`, in that order. `keepDotDot` keeps a `../` name as
 * written (tar's -P): GNU tar would strip it, a hostile packer does not.
 */
export async function ustarArchive(
  dir: string,
  ova: string,
  members: string[],
  { keepDotDot = false }: { keepDotDot?: boolean } = {},
): Promise<string> {
  await run('tar', ['--format=ustar', ...(keepDotDot ? ['-P'] : []), '-cf', ova, ...members], {
    cwd: dir,
  });
  return ova;
}

export interface OvfPackage {
  /** The folder holding the package's loose files. */
  dir: string;
  ova: string;
  /** The loose files: descriptor, manifest, disk. */
  files: { name: string; path: string }[];
  ovf: string;
  descriptorSha256: string;
  manifestSha256: string;
}

/**
 * A package of one disk in `dir`: `<baseName>.ovf`, `<baseName>.mf` and
 * `<baseName>-disk1.vmdk` (converted from the raw `sourceDisk`), archived in that order (or as
 * `members` says) into `ova` (default `<dir>/<baseName>.ova`). `descriptor` writes the XML once the VMDK's name and size are
 * known.
 */
export async function buildOvfPackage(options: {
  dir: string;
  sourceDisk: string;
  descriptor: (vmdk: { href: string; sizeBytes: number }) => string;
  baseName?: string;
  ova?: string;
  wrongDigestOf?: string;
  /** The archive's members in order, by name in `dir` (default: descriptor, manifest, disk). */
  members?: string[];
  /** tar's -P: a `../` member keeps its name, as a hostile packer writes it. */
  keepDotDot?: boolean;
}): Promise<OvfPackage> {
  const baseName = options.baseName ?? 'appliance';
  const names = [`${baseName}.ovf`, `${baseName}.mf`, `${baseName}-disk1.vmdk`];
  const [ovfName, manifestName, vmdkName] = names;
  const sizeBytes = await convertToStreamOptimized(
    options.sourceDisk,
    join(options.dir, vmdkName),
    'raw',
  );
  const xml = options.descriptor({ href: vmdkName, sizeBytes });
  await writeFile(join(options.dir, ovfName), xml);
  const manifest = await sha256sumManifest(options.dir, [ovfName, vmdkName], {
    wrongDigestOf: options.wrongDigestOf,
  });
  await writeFile(join(options.dir, manifestName), manifest);
  const ova = await ustarArchive(
    options.dir,
    options.ova ?? join(options.dir, `${baseName}.ova`),
    options.members ?? names,
    { keepDotDot: options.keepDotDot },
  );
  return {
    dir: options.dir,
    ova,
    files: names.map((name) => ({ name, path: join(options.dir, name) })),
    ovf: join(options.dir, ovfName),
    descriptorSha256: sha256Hex(xml),
    manifestSha256: sha256Hex(manifest),
  };
}

/** qemu-img compare: resolves when both images hold the same guest content, rejects with its word otherwise. */
export async function qemuImgCompare(
  a: string,
  aFormat: string,
  b: string,
  bFormat: string,
): Promise<void> {
  await run('qemu-img', ['compare', '-f', aFormat, '-F', bFormat, a, b]);
}
