import type { ErrorReason } from '../shared/errors';

/**
 * Where a datastore's folder may be. A worker initialises the folder it is given, keeps its
 * metadata in it and moves files it does not know aside (check): a folder it is wrongly given is
 * someone's files lost. So the folder must lie inside a root the operator allows (symlinks
 * resolved), must not be a root itself, must lie inside or around no other datastore (not even in
 * another one's metadata), and must hold nothing but a Dolly datastore: the one being adopted.
 * The API checks this before recording a registration, and every worker again before it touches
 * the folder; both gather the facts (file system I/O) and ask these pure functions.
 */

/** What is at the folder, as the one checking sees it, before anything was written there. */
export type FolderContents =
  /** Nothing there yet: the worker makes it. */
  | { kind: 'absent' }
  | { kind: 'empty' }
  /** Dolly's datastore metadata, naming the datastore it belongs to. */
  | { kind: 'datastore'; datastoreId: string }
  /** Anything else: somebody's files, never to be touched. */
  | { kind: 'files'; examples: string[] }
  | { kind: 'not-a-folder' }
  | { kind: 'unreadable'; reason: string }
  /** Outside every root: not looked at, so that nothing outside them reveals itself. */
  | { kind: 'not-looked-at' };

export interface FolderFacts {
  /** The folder as it was asked for. */
  requested: string;
  /** Where it really is: symlinks resolved as far as the path exists. */
  canonical: string;
  /** The roots datastores may live in, resolved the same way. */
  roots: string[];
  contents: FolderContents;
}

/** Another datastore of the inventory, where it stands. */
export interface PlacedDatastore {
  datastoreId: string;
  name: string;
  folder: string;
}

/** An absolute path with no empty, `.` or `..` segment and no trailing slash. */
export function isNormalPath(path: string): boolean {
  if (!path.startsWith('/') || path.includes('\0')) return false;
  if (path === '/') return true;
  return path
    .slice(1)
    .split('/')
    .every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** Whether `path` lies strictly inside `folder`. */
export function isInside(path: string, folder: string): boolean {
  return path !== folder && path.startsWith(folder === '/' ? '/' : `${folder}/`);
}

/**
 * Every reason a package path may not be imported from: confined as a datastore's folder is,
 * written as a normal absolute path, and strictly inside an import root once every symlink is
 * resolved (`canonical`: the path resolved, null when it cannot be), so that neither `..` nor a
 * link leads out. The resolved path is never shown: it would tell what lies outside the roots.
 */
export function importPathReasons(
  requested: string,
  canonical: string | null,
  roots: readonly string[],
): ErrorReason[] {
  const reasons: ErrorReason[] = [];
  if (!isNormalPath(requested))
    reasons.push({
      code: 'IMPORT.PATH_NOT_NORMAL',
      detail: `Write ${requested} as an absolute path without '.', '..', '//' or a trailing '/'`,
    });
  if (roots.length === 0)
    reasons.push({
      code: 'IMPORT.NO_IMPORT_ROOTS',
      detail:
        'No import roots are configured: the operator sets DOLLY_IMPORT_ROOTS to the folders packages may be imported from',
    });
  else if (canonical === null || !roots.some((root) => isInside(canonical, root)))
    reasons.push({
      code: 'IMPORT.PATH_OUTSIDE_ROOTS',
      detail: `${requested} is not inside an import root (${roots.join(', ')})`,
    });
  return reasons;
}

const pointer = '/folder';

/** Every reason the folder may not be this datastore's, when it is registered; none when it may. */
export function folderReasons(
  facts: FolderFacts & { datastoreId: string },
  adopt: boolean,
  others: readonly PlacedDatastore[],
): ErrorReason[] {
  return [
    ...placementReasons(facts, others),
    ...contentReasons(where(facts), facts.contents, facts.datastoreId, adopt),
  ];
}

/**
 * Every reason a worker may not serve a registered datastore from its folder: the same rules as
 * at registration, checked again where the folder is (a compromised or mistaken registration, a
 * folder replaced since), and the folder must still be where it was registered and hold nothing
 * but this datastore (or nothing yet).
 */
export function servingReasons(
  facts: FolderFacts & { datastoreId: string },
  others: readonly PlacedDatastore[],
): ErrorReason[] {
  const reasons = placementReasons(facts, others);
  if (facts.canonical !== facts.requested)
    reasons.push({
      code: 'DATASTORE.FOLDER_MOVED',
      detail: `${facts.requested} was registered as it is, but now resolves to ${facts.canonical}`,
      pointer,
    });
  const { contents } = facts;
  const ours = contents.kind === 'datastore' && contents.datastoreId === facts.datastoreId;
  if (!ours) reasons.push(...contentReasons(where(facts), contents, facts.datastoreId, false));
  return reasons;
}

const where = ({ requested, canonical }: FolderFacts) =>
  canonical === requested ? requested : `${requested} (which is ${canonical})`;

function placementReasons(facts: FolderFacts, others: readonly PlacedDatastore[]): ErrorReason[] {
  const { requested, canonical, roots } = facts;
  const reasons: ErrorReason[] = [];
  const at = where(facts);
  if (!isNormalPath(requested))
    reasons.push({
      code: 'DATASTORE.FOLDER_NOT_NORMAL',
      detail: `Write ${requested} as an absolute path without '.', '..', '//' or a trailing '/'`,
      pointer,
    });
  if (roots.length === 0)
    reasons.push({
      code: 'DATASTORE.NO_ROOTS',
      detail:
        'No datastore roots are configured: the operator sets DOLLY_DATASTORE_ROOTS to the folders datastores may live in',
      pointer,
    });
  else if (roots.includes(canonical))
    reasons.push({
      code: 'DATASTORE.FOLDER_IS_ROOT',
      detail: `${at} is a datastore root: a datastore is a folder inside one`,
      pointer,
    });
  else if (!roots.some((root) => isInside(canonical, root)))
    reasons.push({
      code: 'DATASTORE.FOLDER_OUTSIDE_ROOTS',
      detail: `${at} is not inside a datastore root (${roots.join(', ')})`,
      pointer,
    });
  for (const other of others) {
    const relation =
      other.folder === canonical
        ? 'is the folder of'
        : isInside(canonical, other.folder)
          ? 'lies inside'
          : isInside(other.folder, canonical)
            ? 'holds'
            : null;
    if (relation)
      reasons.push({
        code: 'DATASTORE.FOLDER_OVERLAPS',
        detail: `${at} ${relation} datastore ${other.name} (${other.datastoreId}, ${other.folder})`,
        pointer,
      });
  }
  return reasons;
}

function contentReasons(
  where: string,
  contents: FolderContents,
  datastoreId: string,
  adopt: boolean,
): ErrorReason[] {
  const reason = (code: string, detail: string) => [{ code, detail, pointer }];
  switch (contents.kind) {
    case 'not-looked-at':
      return [];
    case 'absent':
    case 'empty':
      return adopt
        ? reason('DATASTORE.NOTHING_TO_ADOPT', `${where} holds no Dolly datastore to adopt`)
        : [];
    case 'datastore':
      if (!adopt)
        return reason(
          'DATASTORE.FOLDER_HOLDS_DATASTORE',
          `${where} holds Dolly datastore ${contents.datastoreId}: adopt it (adopt: true) to take it over as it is`,
        );
      return contents.datastoreId === datastoreId
        ? []
        : reason(
            'DATASTORE.ADOPTED_ID_DIFFERS',
            `${where} holds datastore ${contents.datastoreId}, not ${datastoreId}`,
          );
    case 'files':
      return reason(
        'DATASTORE.FOLDER_NOT_EMPTY',
        `${where} holds files that are not a Dolly datastore (${contents.examples.join(', ')}): a datastore's folder starts empty`,
      );
    case 'not-a-folder':
      return reason('DATASTORE.NOT_A_FOLDER', `${where} is not a folder`);
    case 'unreadable':
      return reason('DATASTORE.FOLDER_UNREADABLE', `${where} cannot be read: ${contents.reason}`);
    default: {
      const unknown: never = contents;
      throw new Error(`unknown folder contents ${JSON.stringify(unknown)}`);
    }
  }
}
