/**
 * A package imported by path must lie strictly inside an import root (DOLLY_IMPORT_ROOTS), judged
 * as datastore folders are (libs/domain datastore-folder: a normal path, its symlinks resolved,
 * strictly inside a root resolved the same way), so that a link inside a root reaches nothing
 * outside it. Nothing outside the roots is looked at: whether such a file exists is not said.
 */
import { lstat } from 'node:fs/promises';
import { canonicalPath } from '@dolly/disk-engine';
import { isInside, isNormalPath } from '@dolly/domain';
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
  if (!isNormalPath(requested))
    refuse(
      'IMPORT.PATH_NOT_NORMAL',
      `${requested} is not an absolute path without '.', '..', '//' or a trailing '/'`,
    );
  if (!/\.(ova|ovf)$/i.test(requested))
    refuse('IMPORT.PATH_NOT_PACKAGE', `${requested} is neither an .ova nor an .ovf`);
  if (roots.length === 0)
    throw refuse(
      'IMPORT.NO_ROOTS',
      'No import roots are configured: the operator sets DOLLY_IMPORT_ROOTS to the folders packages may be imported from',
    );
  const resolvedRoots = await Promise.all(
    roots.map((root) => canonicalPath(root).catch(() => root)),
  );
  const canonical = await canonicalPath(requested).catch(() => null);
  if (canonical === null || !resolvedRoots.some((root) => isInside(canonical, root)))
    throw refuse(
      'IMPORT.PATH_OUTSIDE_ROOTS',
      `${requested} is not inside an import root (${roots.join(', ')})`,
    );
  if (canonical !== requested && !/\.(ova|ovf)$/i.test(canonical))
    refuse('IMPORT.PATH_NOT_PACKAGE', `${requested} leads to ${canonical}, not an .ova or .ovf`);
  const stats = await lstat(canonical).catch(() => null);
  if (!stats) refuse('IMPORT.PATH_NOT_FOUND', `${requested} does not exist`);
  else if (!stats.isFile()) refuse('IMPORT.PATH_NOT_FILE', `${requested} is not a regular file`);
  if (reasons.length > 0) throw new PackageRefused(reasons);
  return canonical;
}
