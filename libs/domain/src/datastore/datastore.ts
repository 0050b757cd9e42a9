import { type Command, type Decider, assertNever } from '../shared/decider';
import { IllegalStateError } from '../shared/errors';
import type { DatastoreEvent, DatastoreRegistered } from './datastore.events';

export type DatastoreState =
  { status: 'unregistered' } | ({ status: 'registered' } & DatastoreRegistered['data']);

export type RegisterDatastore = Command<'RegisterDatastore', DatastoreRegistered['data']>;
export type DatastoreCommand = RegisterDatastore;

export const datastoreStreamId = (datastoreId: string) => `datastore-${datastoreId}`;

function registerDatastore(command: RegisterDatastore, state: DatastoreState): DatastoreEvent[] {
  if (state.status !== 'unregistered') {
    throw new IllegalStateError(
      'DATASTORE.ALREADY_REGISTERED',
      `Datastore ${command.data.datastoreId} is already registered`,
    );
  }
  return [{ type: 'DatastoreRegistered', data: command.data }];
}

export const datastoreDecider: Decider<DatastoreState, DatastoreCommand, DatastoreEvent> = {
  initialState: () => ({ status: 'unregistered' }),
  decide(command, state) {
    switch (command.type) {
      case 'RegisterDatastore':
        return registerDatastore(command, state);
      default:
        return assertNever(command.type);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'DatastoreRegistered':
        return { status: 'registered', ...event.data };
      default:
        return assertNever(event.type);
    }
  },
};
