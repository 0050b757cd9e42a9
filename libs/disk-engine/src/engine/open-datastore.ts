/**
 * Opening a datastore's folder, at the engine's start or to probe one left out: a folder that
 * cannot be opened is named with a stable code, and the engine serves the others.
 */
import { randomUUID } from 'node:crypto';
import { isDiskEngineError } from '../errors';
import { claimDatastoreFolder } from '../store/datastore-folder';
import { DatastoreStore } from '../store/datastore-store';
import { type DatastoreConfig, type InaccessibleDatastore } from './engine-config';
import { Owners } from './owners';

/**
 * Opens one datastore as the engine does at its start: its folder claimed (an empty one
 * initialised, anything else refused untouched) and its log loaded under the log lock.
 */
export async function openDatastore(ds: DatastoreConfig, owners: Owners, lockTimeoutMs?: number) {
  // Nothing is written in a folder this datastore did not initialise (check would move
  // somebody's files aside): an empty one is initialised now, anything else refused.
  await claimDatastoreFolder(ds.path, ds.datastoreId, owners.self.startedAt);
  const store = new DatastoreStore(ds.datastoreId, ds.path, lockTimeoutMs);
  const loaded = await store.load();
  return { store, loaded };
}

/**
 * Whether a datastore the engine left out can be opened now (a worker retries with this before
 * it restarts its engine to take it back): opened and closed again, nothing held.
 */
export async function probeDatastore(
  ds: DatastoreConfig,
  lockTimeoutMs?: number,
): Promise<InaccessibleDatastore | null> {
  const owners = Owners.create(randomUUID(), new Date().toISOString());
  try {
    const { store } = await openDatastore(ds, owners, lockTimeoutMs);
    await store.close();
    return null;
  } catch (error) {
    return inaccessibleBecause(ds.datastoreId, error);
  }
}

export function inaccessibleBecause(datastoreId: string, error: unknown): InaccessibleDatastore {
  if (isDiskEngineError(error)) return { datastoreId, code: error.code, reason: error.message };
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  return {
    datastoreId,
    code: errno ? `DISK.IO.${errno}` : 'DISK.IO',
    reason: error instanceof Error ? error.message : String(error),
  };
}
