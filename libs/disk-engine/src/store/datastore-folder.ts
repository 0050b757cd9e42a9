/**
 * Which folder is a datastore, and whose. A worker initialises a datastore's folder (writes
 * `.dolly/datastore.json`, naming the datastore) and only then keeps metadata there and lets check
 * move unknown files aside; it never does either in a folder it did not initialise. A folder
 * holding anything but a Dolly datastore is somebody's files, and is never taken.
 *
 *   <folder>/.dolly/datastore.json   { formatVersion, datastoreId, initialisedAt, initialisedBy }
 *
 * Datastores initialised before this file existed are recognised by their metadata (the manifest,
 * or the log's first operation, names the datastore) and get the file at their next load.
 */
import { type FolderContents, type FolderFacts, isInside } from '@dolly/domain';
import { lstat, mkdir, open, readFile, readdir, realpath } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DiskEngineError } from '../errors';
import { writeFileAtomic } from './fs-atomic';
import { METADATA_DIR } from './datastore-store';

const IDENTITY_FILE = 'datastore.json';
const IDENTITY_FORMAT = 1;
const MANIFEST = 'manifest.json';
const SEGMENT = /^oplog\.(\d+)\.jsonl$/;
/** Bytes of a log segment read to find the datastore its first operation names. */
const FIRST_LINE_BYTES = 64 * 1024;
const EXAMPLES = 5;

interface Identity {
  formatVersion: number;
  datastoreId: string;
  initialisedAt: string;
  initialisedBy: { host: string; pid: number };
}

const identityPath = (folder: string) => join(folder, METADATA_DIR, IDENTITY_FILE);
const IDENTITY_BEING_WRITTEN = /^\.datastore\.json\.[0-9a-f]+\.tmp$/;

const errno = (error: unknown) => (error as NodeJS.ErrnoException).code;

/**
 * The path with every symlink resolved, as far as it exists: the deepest existing folder is
 * resolved, the rest appended. What a folder really is, whatever the request called it.
 */
export async function canonicalPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (error) {
    if (errno(error) !== 'ENOENT' && errno(error) !== 'ENOTDIR') throw error;
    const parent = dirname(path);
    if (parent === path) return path;
    return join(await canonicalPath(parent), basename(path));
  }
}

/** The datastore a folder's Dolly metadata names, if it has any. */
async function metadataOwner(folder: string): Promise<string | undefined> {
  const metadata = join(folder, METADATA_DIR);
  const identity = await readJson<Identity>(identityPath(folder));
  if (identity) return identity.datastoreId;
  const manifest = await readJson<{ datastoreId?: string }>(join(metadata, MANIFEST));
  if (manifest?.datastoreId) return manifest.datastoreId;
  const segments = (await readdir(metadata).catch(() => []))
    .map((name) => SEGMENT.exec(name))
    .filter((match) => match !== null)
    .map((match) => Number(match[1]))
    .sort((a, b) => a - b);
  for (const segment of segments) {
    const owner = await firstOperationDatastore(join(metadata, `oplog.${segment}.jsonl`));
    if (owner) return owner;
  }
  return undefined;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (error) {
    if (errno(error) === 'ENOENT' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

async function firstOperationDatastore(segmentPath: string): Promise<string | undefined> {
  const handle = await open(segmentPath, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const buffer = Buffer.alloc(FIRST_LINE_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, FIRST_LINE_BYTES, 0);
    for (const line of buffer.subarray(0, bytesRead).toString('utf8').split('\n')) {
      try {
        const entry = JSON.parse(line) as { phase?: string; datastoreId?: string };
        if (entry.phase === 'started' && entry.datastoreId) return entry.datastoreId;
      } catch {
        // A torn or partial line: look no further in this segment.
        return undefined;
      }
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

/**
 * What the folder policy (libs/domain, datastore-folder.ts) decides on: where the folder really
 * is, the roots resolved the same way, and what it holds.
 */
export async function gatherFolderFacts(
  requested: string,
  roots: readonly string[],
): Promise<FolderFacts> {
  // A root that cannot be resolved is compared as written: a folder can only be inside it by name.
  const resolvedRoots = await Promise.all(
    roots.map((root) => canonicalPath(root).catch(() => root)),
  );
  let canonical: string;
  try {
    canonical = await canonicalPath(requested);
  } catch (error) {
    return {
      requested,
      canonical: requested,
      roots: resolvedRoots,
      contents: { kind: 'unreadable', reason: (error as Error).message },
    };
  }
  const mayLook = resolvedRoots.some((root) => root === canonical || isInside(canonical, root));
  return {
    requested,
    canonical,
    roots: resolvedRoots,
    contents: mayLook ? await inspectDatastoreFolder(canonical) : { kind: 'not-looked-at' },
  };
}

/** What is at the folder: nothing, an empty folder, a Dolly datastore (whose), or anything else. */
export async function inspectDatastoreFolder(folder: string): Promise<FolderContents> {
  try {
    const stats = await lstat(folder);
    if (!stats.isDirectory()) return { kind: 'not-a-folder' };
    // An initialised datastore says whose it is at once (workers look at every scan): no listing.
    const identity = await readJson<Identity>(identityPath(folder));
    if (identity) return { kind: 'datastore', datastoreId: identity.datastoreId };
    const entries = await readdir(folder);
    if (entries.length === 0) return { kind: 'empty' };
    if (entries.includes(METADATA_DIR)) {
      const owner = await metadataOwner(folder);
      if (owner) return { kind: 'datastore', datastoreId: owner };
      // Metadata a load made before any operation ran, and nothing else: still an empty datastore.
      if (entries.length === 1 && (await onlyFreshMetadata(folder))) return { kind: 'empty' };
    }
    return { kind: 'files', examples: entries.sort().slice(0, EXAMPLES) };
  } catch (error) {
    if (errno(error) === 'ENOENT') return { kind: 'absent' };
    return { kind: 'unreadable', reason: (error as Error).message };
  }
}

/** `.dolly` holding only what loading a datastore makes: folders, the lock, an empty first segment. */
async function onlyFreshMetadata(folder: string): Promise<boolean> {
  const metadata = join(folder, METADATA_DIR);
  for (const name of await readdir(metadata)) {
    const stats = await lstat(join(metadata, name));
    const fresh =
      (stats.isDirectory() && ['templates', 'quarantine', 'owners'].includes(name)) ||
      (stats.isFile() && name === 'lock') ||
      // Another worker writing the identity at this moment (writeFileAtomic's temporary file):
      // the folder is being initialised as a datastore, not holding somebody's files.
      (stats.isFile() && IDENTITY_BEING_WRITTEN.test(name)) ||
      (stats.isFile() && SEGMENT.test(name) && stats.size === 0);
    if (!fresh) return false;
    if (stats.isDirectory() && name !== 'owners' && (await readdir(join(metadata, name))).length)
      return false;
  }
  return true;
}

/**
 * Makes sure the folder is this datastore's before anything is written there: an empty folder is
 * initialised as it, a legacy one of its own gets its identity written, and anything
 * else is refused with nothing touched.
 */
export async function claimDatastoreFolder(
  folder: string,
  datastoreId: string,
  now: string,
): Promise<'initialised' | 'known'> {
  const found = await inspectDatastoreFolder(folder);
  const refuse = (code: 'DISK.DATASTORE_FOREIGN' | 'DISK.DATASTORE_NOT_EMPTY', why: string) =>
    new DiskEngineError(code, `datastore ${datastoreId}: ${folder} ${why}`, {
      datastoreId,
      folder,
    });
  switch (found.kind) {
    case 'absent':
      throw new DiskEngineError('DISK.NOT_FOUND', `datastore folder ${folder} is missing`, {
        datastoreId,
        folder,
      });
    case 'empty':
      return initialise(folder, datastoreId, now);
    case 'datastore':
      if (found.datastoreId !== datastoreId)
        throw refuse('DISK.DATASTORE_FOREIGN', `holds another datastore (${found.datastoreId})`);
      if (!(await readJson<Identity>(identityPath(folder))))
        await writeIdentity(folder, datastoreId, now);
      return 'known';
    case 'files':
      throw refuse(
        'DISK.DATASTORE_NOT_EMPTY',
        `holds files that are not a Dolly datastore (${found.examples.join(', ')}): left untouched`,
      );
    case 'not-a-folder':
      throw refuse('DISK.DATASTORE_NOT_EMPTY', 'is not a folder');
    case 'not-looked-at':
    case 'unreadable':
      throw new DiskEngineError(
        'DISK.NOT_FOUND',
        `datastore folder ${folder} cannot be read: ${'reason' in found ? found.reason : 'not looked at'}`,
        { datastoreId, folder },
      );
    default: {
      const unknown: never = found;
      throw new Error(`unknown folder inspection ${JSON.stringify(unknown)}`);
    }
  }
}

async function initialise(folder: string, datastoreId: string, now: string) {
  await writeIdentity(folder, datastoreId, now);
  return 'initialised' as const;
}

async function writeIdentity(folder: string, datastoreId: string, now: string): Promise<void> {
  await mkdir(join(folder, METADATA_DIR), { recursive: true, mode: 0o750 });
  const identity: Identity = {
    formatVersion: IDENTITY_FORMAT,
    datastoreId,
    initialisedAt: now,
    initialisedBy: { host: hostname(), pid: process.pid },
  };
  await writeFileAtomic(identityPath(folder), `${JSON.stringify(identity, null, 2)}\n`);
}
