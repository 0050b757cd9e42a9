/**
 * The storage daemon's runtime folder: its QMP socket (full control of every open disk), its NBD
 * socket and its pid file (a pid the worker stops at start). Whoever may enter the folder, or
 * swap it for one of their own, owns the worker's disks. So before a daemon starts (and before a
 * leftover one is looked for) the folder must be a real directory, not a symbolic link, owned by
 * this process's user with no access for group or others, and no folder above it may let another
 * user rename it away: each is owned by root or by us, and writable by others only when sticky
 * (like /tmp: others may add entries but not rename ours). A missing folder is made (mode 0700,
 * missing parents too): mkdir never follows a symbolic link and fails when anything is there, and
 * what it finds is checked, so a folder planted by someone else in a shared /tmp is refused
 * rather than used.
 */
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { DiskEngineError } from '../errors';

/** sockaddr_un holds 108 bytes, the terminating NUL included. */
export const UNIX_SOCKET_PATH_MAX_BYTES = 107;
/** The longest name the daemon gives a socket in the folder (`nbd.sock`, `qmp.sock`). */
const LONGEST_SOCKET_NAME = 'nbd.sock';

const ROOT_UID = 0;

function refuse(runtimeDir: string, problem: string): never {
  throw new DiskEngineError(
    'DISK.UNSAFE_RUNTIME_DIR',
    `The storage daemon's runtime folder ${runtimeDir} is refused: ${problem}`,
    { runtimeDir },
  );
}

const octal = (mode: number) => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

/** The folders from / down to `path`, `path` included. */
function foldersDownTo(path: string): string[] {
  const folders: string[] = [];
  for (let folder = path; ; folder = dirname(folder)) {
    folders.unshift(folder);
    if (dirname(folder) === folder) return folders;
  }
}

async function lstatOrNull(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * A folder above the runtime folder: another user who owns it, or may write to it without the
 * sticky bit, could rename the runtime folder away and put one of theirs in its place.
 */
async function checkAbove(runtimeDir: string, folder: string, uid: number): Promise<void> {
  const stats = await lstat(folder);
  if (stats.uid !== ROOT_UID && stats.uid !== uid)
    refuse(runtimeDir, `${folder} above it is owned by uid ${stats.uid}, not root or uid ${uid}`);
  if (stats.isSymbolicLink()) return; // its target is checked through the real path
  if (!stats.isDirectory()) refuse(runtimeDir, `${folder} above it is not a folder`);
  if (stats.mode & 0o022 && !(stats.mode & 0o1000))
    refuse(
      runtimeDir,
      `${folder} above it is writable by others (mode ${octal(stats.mode)}) and not sticky: they could replace the runtime folder`,
    );
}

/** Checks the runtime folder itself: ours, a real folder, owner-only. */
async function checkItself(runtimeDir: string, uid: number): Promise<void> {
  const stats = await lstat(runtimeDir);
  if (stats.isSymbolicLink())
    refuse(runtimeDir, 'it is a symbolic link; give the real folder (or remove the link)');
  if (!stats.isDirectory()) refuse(runtimeDir, 'it is not a folder');
  if (stats.uid !== uid)
    refuse(runtimeDir, `it is owned by uid ${stats.uid}, not the worker's user (uid ${uid})`);
  if (stats.mode & 0o077)
    refuse(
      runtimeDir,
      `it has mode ${octal(stats.mode)}: group and others must have no access (chmod 0700 it, or remove it to have it made)`,
    );
}

/**
 * Makes the runtime folder when missing and checks it and every folder above it; throws
 * DISK.UNSAFE_RUNTIME_DIR naming the folder and what is wrong. Every start of the daemon goes
 * through it, and so may a worker's start-up, to fail before it takes any work.
 */
export async function prepareRuntimeDir(runtimeDir: string): Promise<void> {
  if (!isAbsolute(runtimeDir)) refuse(runtimeDir, 'it must be an absolute path');
  const folder = resolve(runtimeDir);
  const longest = join(folder, LONGEST_SOCKET_NAME);
  if (Buffer.byteLength(longest) > UNIX_SOCKET_PATH_MAX_BYTES)
    refuse(
      runtimeDir,
      `the path is too long for the sockets in it (${longest} is ${Buffer.byteLength(longest)} bytes; a Unix socket path holds at most ${UNIX_SOCKET_PATH_MAX_BYTES})`,
    );
  const uid = process.geteuid?.() ?? ROOT_UID;
  const above = foldersDownTo(dirname(folder));
  // Top down, so that nothing is made inside a folder that failed its check.
  for (const path of [...above, folder]) {
    if (!(await lstatOrNull(path))) {
      try {
        await mkdir(path, { mode: 0o700 });
      } catch (error) {
        // Made meanwhile (by another worker, or someone else): checked like any other.
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    if (path !== folder) await checkAbove(runtimeDir, path, uid);
  }
  // Symbolic links above: their targets, every folder of the real path, are held to the same.
  const real = await realpath(dirname(folder));
  for (const path of foldersDownTo(real)) await checkAbove(runtimeDir, path, uid);
  await checkItself(runtimeDir, uid);
}
