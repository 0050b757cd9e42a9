/**
 * A package imported by path must lie strictly inside an import root (DOLLY_IMPORT_ROOTS), judged
 * as datastore folders are (libs/domain datastore-folder: a normal path, its symlinks resolved,
 * strictly inside a root resolved the same way), so that a link inside a root reaches nothing
 * outside it. Nothing outside the roots is looked at: whether such a file exists is not said.
 */
import { lstat } from 'node:fs/promises';
import { canonicalPath } from '@dolly/disk-engine';
import { importPathReasons } from '@dolly/domain';
import { type PackageReason, PackageRefused } from '@dolly/ovf';

/** The package's real path, inside a root; PackageRefused with every reason otherwise. */
export async function confinedPackagePath(
  requested: string,
  roots: readonly string[],
): Promise<string> {
  const reasons: PackageReason[] = [];
  const refuse = (code: string, detail: string) => {
    reasons.push({ code, detail, at: requested });
    return new PackageRefused(reasons);
  };
  if (!/\.(ova|ovf)$/i.test(requested))
    refuse('IMPORT.PATH_NOT_PACKAGE', `${requested} is neither an .ova nor an .ovf`);
  const resolvedRoots = await Promise.all(
    roots.map((root) => canonicalPath(root).catch(() => root)),
  );
  // With no root, nothing is inside one: the path is not even resolved.
  const canonical = roots.length === 0 ? null : await canonicalPath(requested).catch(() => null);
  const confinement = importPathReasons(requested, canonical, resolvedRoots);
  for (const { code, detail } of confinement) refuse(code, detail);
  // Nothing outside the roots (or not resolved) is looked at any further.
  if (canonical === null || confinement.some((r) => r.code !== 'IMPORT.PATH_NOT_NORMAL'))
    throw new PackageRefused(reasons);
  if (canonical !== requested && !/\.(ova|ovf)$/i.test(canonical))
    refuse('IMPORT.PATH_NOT_PACKAGE', `${requested} leads to ${canonical}, not an .ova or .ovf`);
  const stats = await lstat(canonical).catch(() => null);
  if (!stats) refuse('IMPORT.PATH_NOT_FOUND', `${requested} does not exist`);
  else if (!stats.isFile()) refuse('IMPORT.PATH_NOT_FILE', `${requested} is not a regular file`);
  if (reasons.length > 0) throw new PackageRefused(reasons);
  return canonical;
}
