import type { RegisterDatastore } from '../datastore/datastore';
import type { DatastoreEvent } from '../datastore/datastore.events';
import type { PlacedDatastore } from '../datastore/datastore-folder';
import type { Workspace } from './workspace';

/**
 * Registers (or adopts) a datastore against every other one in the inventory: the workspace must
 * hold them all, read under the lock that registrations take, so two registrations can never
 * claim overlapping folders.
 */
export function registerDatastore(ws: Workspace, command: RegisterDatastore): DatastoreEvent[] {
  const others: PlacedDatastore[] = ws
    .idsOf('datastore')
    .filter((id) => id !== command.data.datastoreId)
    .map((id) => ws.datastore(id))
    .flatMap((other) =>
      other.status === 'registered'
        ? [{ datastoreId: other.datastoreId, name: other.name, folder: other.folder }]
        : [],
    );
  return ws.decideDatastore(command, { others });
}
