import { type Command, type Decider, assertNever } from '../shared/decider';
import {
  type ErrorReason,
  IllegalStateError,
  NotFoundError,
  RuleViolationError,
} from '../shared/errors';
import type {
  DatastoreEvent,
  DatastoreRegistered,
  DatastoreUsageMeasured,
  SpaceClaim,
} from './datastore.events';

export type DatastoreState =
  | { status: 'unregistered' }
  | ({
      status: 'registered';
      claims: Record<string, SpaceClaim>;
      /** As last measured by a worker (null before any). */
      usage: Omit<DatastoreUsageMeasured['data'], 'datastoreId'> | null;
    } & DatastoreRegistered['data']);

export type RegisterDatastore = Command<'RegisterDatastore', DatastoreRegistered['data']>;
export type ReserveSpace = Command<
  'ReserveSpace',
  { datastoreId: string; taskId: string; claims: SpaceClaim[] }
>;
export type ReleaseSpace = Command<
  'ReleaseSpace',
  { datastoreId: string; diskIds: string[]; reason: string }
>;
export type RecordUsage = Command<'RecordUsage', DatastoreUsageMeasured['data']>;
export type DatastoreCommand = RegisterDatastore | ReserveSpace | ReleaseSpace | RecordUsage;

export const datastoreStreamId = (datastoreId: string) => `datastore-${datastoreId}`;

/**
 * A new thin layer (an empty qcow2 or a linked clone's delta) takes its header and first tables
 * before any guest write: counted as this much until a worker measures it.
 */
export const THIN_LAYER_OVERHEAD_BYTES = 1024 * 1024;

export interface SpaceTotals {
  capacityBytes: number;
  physicalBytes: number;
  provisionedBytes: number;
  /** capacity × overcommit ratio: how much may be promised. */
  provisionableBytes: number;
}

export function spaceTotals(
  datastore: Extract<DatastoreState, { status: 'registered' }>,
  without: readonly string[] = [],
): SpaceTotals {
  const claims = Object.values(datastore.claims).filter((claim) => !without.includes(claim.diskId));
  return {
    capacityBytes: datastore.capacityBytes,
    physicalBytes: claims.reduce((sum, claim) => sum + claim.physicalBytes, 0),
    provisionedBytes: claims.reduce((sum, claim) => sum + claim.provisionedBytes, 0),
    provisionableBytes: Math.floor(datastore.capacityBytes * datastore.overcommitRatio),
  };
}

function registerDatastore(command: RegisterDatastore, state: DatastoreState): DatastoreEvent[] {
  if (state.status !== 'unregistered') {
    throw new IllegalStateError(
      'DATASTORE.ALREADY_REGISTERED',
      `Datastore ${command.data.datastoreId} is already registered`,
    );
  }
  return [{ type: 'DatastoreRegistered', data: command.data }];
}

/**
 * Space is planned: disks are admitted only if what they may take fits the capacity and what they
 * promise fits capacity × overcommit ratio. Claims are events on the datastore's stream, so two
 * concurrent requests cannot both take the last bytes: one of them decides again and is refused.
 */
function reserveSpace(command: ReserveSpace, state: DatastoreState): DatastoreEvent[] {
  if (state.status !== 'registered')
    throw new NotFoundError(
      'DATASTORE.NOT_FOUND',
      `Datastore ${command.data.datastoreId} is not registered`,
    );
  const totals = spaceTotals(
    state,
    command.data.claims.map((claim) => claim.diskId),
  );
  const physical = command.data.claims.reduce((sum, claim) => sum + claim.physicalBytes, 0);
  const provisioned = command.data.claims.reduce((sum, claim) => sum + claim.provisionedBytes, 0);
  const reasons: ErrorReason[] = [];
  if (totals.physicalBytes + physical > totals.capacityBytes) {
    reasons.push({
      code: 'DATASTORE.CAPACITY_EXCEEDED',
      detail:
        `${state.name} holds ${totals.capacityBytes} bytes, ${totals.physicalBytes} are claimed, ` +
        `${totals.capacityBytes - totals.physicalBytes} are free; the disks need ${physical}`,
    });
  }
  if (totals.provisionedBytes + provisioned > totals.provisionableBytes) {
    reasons.push({
      code: 'DATASTORE.OVERCOMMIT_EXCEEDED',
      detail:
        `${state.name} may promise ${totals.provisionableBytes} bytes (capacity × ${state.overcommitRatio}), ` +
        `${totals.provisionedBytes} are promised; the disks would add ${provisioned}`,
    });
  }
  if (reasons.length > 0)
    throw new RuleViolationError(
      'DATASTORE.INSUFFICIENT_SPACE',
      `${state.name} cannot hold these disks`,
      reasons,
    );
  return [{ type: 'DatastoreSpaceReserved', data: command.data }];
}

function releaseSpace(command: ReleaseSpace, state: DatastoreState): DatastoreEvent[] {
  if (state.status !== 'registered')
    throw new NotFoundError(
      'DATASTORE.NOT_FOUND',
      `Datastore ${command.data.datastoreId} is not registered`,
    );
  const held = command.data.diskIds.filter((diskId) => diskId in state.claims);
  return held.length === 0
    ? []
    : [{ type: 'DatastoreSpaceReleased', data: { ...command.data, diskIds: held } }];
}

export const datastoreDecider: Decider<DatastoreState, DatastoreCommand, DatastoreEvent> = {
  initialState: () => ({ status: 'unregistered' }),
  decide(command, state) {
    switch (command.type) {
      case 'RegisterDatastore':
        return registerDatastore(command, state);
      case 'ReserveSpace':
        return reserveSpace(command, state);
      case 'ReleaseSpace':
        return releaseSpace(command, state);
      case 'RecordUsage':
        if (state.status !== 'registered') {
          throw new NotFoundError(
            'DATASTORE.NOT_FOUND',
            `Datastore ${command.data.datastoreId} is not registered`,
          );
        }
        return [{ type: 'DatastoreUsageMeasured', data: command.data }];
      default:
        return assertNever(command);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'DatastoreRegistered':
        return { status: 'registered', ...event.data, claims: {}, usage: null };
      case 'DatastoreSpaceReserved':
      case 'DatastoreSpaceReleased': {
        if (state.status !== 'registered')
          throw new Error(`${event.type} applied to an unregistered datastore`);
        const claims = { ...state.claims };
        if (event.type === 'DatastoreSpaceReserved')
          for (const claim of event.data.claims) claims[claim.diskId] = claim;
        else for (const diskId of event.data.diskIds) delete claims[diskId];
        return { ...state, claims };
      }
      case 'DatastoreUsageMeasured': {
        if (state.status !== 'registered')
          throw new Error(`${event.type} applied to an unregistered datastore`);
        const { datastoreId: _datastoreId, ...usage } = event.data;
        return { ...state, usage };
      }
      default:
        return assertNever(event);
    }
  },
};
