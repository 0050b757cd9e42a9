import { streamIdOf } from '../shared/streams';
import { type Command, type Decider, assertNever } from '../shared/decider';
import {
  type ErrorReason,
  IllegalStateError,
  NotFoundError,
  RuleViolationError,
  refuseIfAny,
} from '../shared/errors';
import type {
  DatastoreEvent,
  DatastoreLayerRestored,
  DatastoreQuarantineObserved,
  DatastoreRegistered,
  DatastoreUsageMeasured,
  SpaceClaim,
} from './datastore.events';
import { type FolderFacts, type PlacedDatastore, folderReasons } from './datastore-folder';

export type DatastoreState =
  | { status: 'unregistered' }
  | ({
      status: 'registered';
      claims: Record<string, SpaceClaim>;
      /** As last measured by a worker (null before any). */
      usage: Omit<DatastoreUsageMeasured['data'], 'datastoreId'> | null;
      /** The workers that cannot open its folder, and why; absent while every worker can. */
      inaccessible?: Record<string, { code: string; reason: string }>;
      /** What check has moved aside on it, as a worker last saw it; absent before any. */
      quarantine?: DatastoreQuarantineObserved['data']['entries'];
    } & DatastoreRegistered['data'])
  /** Left the inventory; its folder may be adopted again under the same id. */
  | { status: 'removed'; datastoreId: string; name: string; folder: string };

export type RegisteredDatastore = Extract<DatastoreState, { status: 'registered' }>;

/**
 * `folder` is where the request's folder really is (symlinks resolved); `folderFacts` what the
 * adapter found there and the roots it was checked against.
 */
export type RegisterDatastore = Command<
  'RegisterDatastore',
  Omit<DatastoreRegistered['data'], 'adopted'> & { adopt: boolean; folderFacts: FolderFacts }
>;
export type RenameDatastore = Command<'RenameDatastore', { datastoreId: string; name: string }>;
/**
 * `vmIdsOnIt`: the VMs the inventory shows on it. Disks claim space on the datastore's own stream;
 * a VM without disks is known only to the inventory.
 */
export type RemoveDatastore = Command<
  'RemoveDatastore',
  { datastoreId: string; vmIdsOnIt: string[] }
>;
export type ReserveSpace = Command<
  'ReserveSpace',
  { datastoreId: string; taskId: string; claims: SpaceClaim[] }
>;
export type ReleaseSpace = Command<
  'ReleaseSpace',
  { datastoreId: string; diskIds: string[]; reason: string }
>;
export type RecordUsage = Command<'RecordUsage', DatastoreUsageMeasured['data']>;
/** What a worker found when it last tried to open the folder: `problem` null when it could. */
export type ReportAccessibility = Command<
  'ReportAccessibility',
  {
    datastoreId: string;
    workerId: string;
    problem: { code: string; reason: string } | null;
  }
>;
export type ObserveQuarantine = Command<'ObserveQuarantine', DatastoreQuarantineObserved['data']>;
/** A worker's restore task took a quarantined layer back. */
export type RecordLayerRestored = Command<'RecordLayerRestored', DatastoreLayerRestored['data']>;
export type DatastoreCommand =
  | ObserveQuarantine
  | RecordLayerRestored
  | RegisterDatastore
  | RenameDatastore
  | RemoveDatastore
  | ReserveSpace
  | ReleaseSpace
  | RecordUsage
  | ReportAccessibility;

/**
 * Whether the datastore can be reached, as vSphere shows it: `inaccessible` while any worker
 * cannot open its folder, with their reasons.
 */
export function accessibilityOf(datastore: RegisteredDatastore): {
  accessibility: 'accessible' | 'inaccessible';
  reason: string | null;
} {
  const problems = Object.entries(datastore.inaccessible ?? {});
  if (problems.length === 0) return { accessibility: 'accessible', reason: null };
  return {
    accessibility: 'inaccessible',
    reason: problems
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([workerId, problem]) => `${workerId}: ${problem.code}: ${problem.reason}`)
      .join('; '),
  };
}

/** Only a change is recorded: a worker retrying and failing alike says nothing new. */
function reportAccessibility(
  command: ReportAccessibility,
  state: DatastoreState,
): DatastoreEvent[] {
  const { datastoreId, workerId, problem } = command.data;
  if (state.status !== 'registered') return [];
  const known = state.inaccessible?.[workerId];
  if (problem === null)
    return known ? [{ type: 'DatastoreAccessible', data: { datastoreId, workerId } }] : [];
  if (known && known.code === problem.code && known.reason === problem.reason) return [];
  return [
    {
      type: 'DatastoreInaccessible',
      data: { datastoreId, workerId, code: problem.code, reason: problem.reason.slice(0, 4000) },
    },
  ];
}

/**
 * Whether an admin may ask to restore this entry of the datastore's quarantine, as its workers
 * last reported it: the datastore is registered and reachable, the entry is a quarantined layer
 * (a file moved aside cannot come back). The worker checks the layer again before taking it back.
 */
export function guardQuarantineRestore(state: DatastoreState, datastoreId: string, entry: string) {
  if (state.status !== 'registered')
    throw new NotFoundError('DATASTORE.NOT_FOUND', `Datastore ${datastoreId} does not exist`);
  const { accessibility, reason } = accessibilityOf(state);
  if (accessibility === 'inaccessible')
    throw new IllegalStateError(
      'DATASTORE.INACCESSIBLE',
      `Datastore ${state.name} is inaccessible (${reason}): nothing on it can be restored now`,
    );
  const found = (state.quarantine ?? []).find((e) => e.entry === entry);
  if (!found)
    throw new NotFoundError(
      'QUARANTINE.NOT_FOUND',
      `Nothing named ${entry} is in the quarantine of datastore ${state.name}`,
    );
  if (found.kind !== 'layer' || !found.restorable)
    throw new IllegalStateError(
      'QUARANTINE.NOT_RESTORABLE',
      `${entry} is a file no layer named, moved aside by check: it cannot be restored`,
    );
  return found;
}

/** What a registration must not collide with: every other datastore in the inventory. */
export interface DatastoreContext {
  others: PlacedDatastore[];
}

export const datastoreStreamId = (datastoreId: string) =>
  streamIdOf({ kind: 'datastore', id: datastoreId });

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
  datastore: RegisteredDatastore,
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

function registered(state: DatastoreState, datastoreId: string): RegisteredDatastore {
  if (state.status !== 'registered')
    throw new NotFoundError('DATASTORE.NOT_FOUND', `Datastore ${datastoreId} is not registered`);
  return state;
}

/**
 * A folder becomes a datastore only where the operator allows datastores, where no other one
 * stands, and where nobody else's files are: a worker initialises it and may later move unknown
 * files aside (check), so a folder holding anything else is never taken. A folder that holds a
 * Dolly datastore already is taken only when asked to (adopt), under the id it carries.
 */
function registerDatastore(
  command: RegisterDatastore,
  state: DatastoreState,
  context: DatastoreContext,
): DatastoreEvent[] {
  const { adopt, folderFacts, ...data } = command.data;
  if (state.status === 'registered') {
    throw new IllegalStateError(
      'DATASTORE.ALREADY_REGISTERED',
      `Datastore ${data.datastoreId} is already registered (as ${state.name})`,
    );
  }
  if (state.status === 'removed' && !adopt) {
    throw new IllegalStateError(
      'DATASTORE.REMOVED',
      `Datastore ${data.datastoreId} was removed: adopt its folder to bring it back`,
    );
  }
  const others = context.others.filter((other) => other.datastoreId !== data.datastoreId);
  refuseIfAny(
    'DATASTORE.FOLDER_REFUSED',
    `${folderFacts.requested} cannot be a datastore's folder`,
    folderReasons({ ...folderFacts, datastoreId: data.datastoreId }, adopt, others),
  );
  return [
    {
      type: 'DatastoreRegistered',
      data: { ...data, folder: folderFacts.canonical, adopted: adopt },
    },
  ];
}

function renameDatastore(command: RenameDatastore, state: DatastoreState): DatastoreEvent[] {
  const datastore = registered(state, command.data.datastoreId);
  if (datastore.name === command.data.name) return [];
  return [
    {
      type: 'DatastoreRenamed',
      data: { ...command.data, previousName: datastore.name },
    },
  ];
}

/** Only an empty datastore leaves: no disk or memory image claims its space, no VM names it. */
function removeDatastore(command: RemoveDatastore, state: DatastoreState): DatastoreEvent[] {
  const datastore = registered(state, command.data.datastoreId);
  const reasons: ErrorReason[] = [
    ...Object.keys(datastore.claims).map((diskId) => ({
      code: 'DATASTORE.DISK_STANDS_ON_IT',
      detail: `Disk ${diskId} is on ${datastore.name}: delete its VM (or move it) first`,
    })),
    ...command.data.vmIdsOnIt.map((vmId) => ({
      code: 'DATASTORE.VM_STANDS_ON_IT',
      detail: `VM ${vmId} is registered on ${datastore.name}: delete it first`,
    })),
  ];
  if (reasons.length > 0)
    throw new IllegalStateError(
      'DATASTORE.IN_USE',
      `${datastore.name} is in use: ${reasons.length} thing(s) stand on it`,
      reasons,
    );
  const { datastoreId, name, folder } = datastore;
  return [{ type: 'DatastoreRemoved', data: { datastoreId, name, folder } }];
}

/**
 * Space is planned: disks are admitted only if what they may take fits the capacity and what they
 * promise fits capacity × overcommit ratio. Claims are events on the datastore's stream, so two
 * concurrent requests cannot both take the last bytes: one of them decides again and is refused.
 */
function reserveSpace(command: ReserveSpace, state: DatastoreState): DatastoreEvent[] {
  const datastore = registered(state, command.data.datastoreId);
  const reasons = spaceReasons(datastore, command.data.claims);
  if (reasons.length > 0)
    throw new RuleViolationError(
      'DATASTORE.INSUFFICIENT_SPACE',
      `${datastore.name} cannot hold these disks`,
      reasons,
    );
  return [{ type: 'DatastoreSpaceReserved', data: command.data }];
}

/** Why a datastore cannot take these claims (none: it can), every reason at once. */
export function spaceReasons(
  datastore: RegisteredDatastore,
  claims: readonly SpaceClaim[],
): ErrorReason[] {
  const totals = spaceTotals(
    datastore,
    claims.map((claim) => claim.diskId),
  );
  const physical = claims.reduce((sum, claim) => sum + claim.physicalBytes, 0);
  const provisioned = claims.reduce((sum, claim) => sum + claim.provisionedBytes, 0);
  const reasons: ErrorReason[] = [];
  if (totals.physicalBytes + physical > totals.capacityBytes) {
    reasons.push({
      code: 'DATASTORE.CAPACITY_EXCEEDED',
      detail:
        `${datastore.name} holds ${totals.capacityBytes} bytes, ${totals.physicalBytes} are claimed, ` +
        `${totals.capacityBytes - totals.physicalBytes} are free; the disks need ${physical}`,
    });
  }
  if (totals.provisionedBytes + provisioned > totals.provisionableBytes) {
    reasons.push({
      code: 'DATASTORE.OVERCOMMIT_EXCEEDED',
      detail:
        `${datastore.name} may promise ${totals.provisionableBytes} bytes (capacity × ${datastore.overcommitRatio}), ` +
        `${totals.provisionedBytes} are promised; the disks would add ${provisioned}`,
    });
  }
  return reasons;
}

function releaseSpace(command: ReleaseSpace, state: DatastoreState): DatastoreEvent[] {
  const datastore = registered(state, command.data.datastoreId);
  const held = command.data.diskIds.filter((diskId) => diskId in datastore.claims);
  return held.length === 0
    ? []
    : [{ type: 'DatastoreSpaceReleased', data: { ...command.data, diskIds: held } }];
}

export const datastoreDecider: Decider<
  DatastoreState,
  DatastoreCommand,
  DatastoreEvent,
  DatastoreContext | undefined
> = {
  initialState: () => ({ status: 'unregistered' }),
  decide(command, state, context) {
    switch (command.type) {
      case 'RegisterDatastore':
        return registerDatastore(command, state, context ?? { others: [] });
      case 'RenameDatastore':
        return renameDatastore(command, state);
      case 'RemoveDatastore':
        return removeDatastore(command, state);
      case 'ReserveSpace':
        return reserveSpace(command, state);
      case 'ReleaseSpace':
        return releaseSpace(command, state);
      case 'RecordUsage':
        registered(state, command.data.datastoreId);
        return [{ type: 'DatastoreUsageMeasured', data: command.data }];
      case 'ReportAccessibility':
        return reportAccessibility(command, state);
      case 'RecordLayerRestored':
        return state.status === 'registered'
          ? [{ type: 'DatastoreLayerRestored', data: command.data }]
          : [];
      case 'ObserveQuarantine': {
        if (state.status !== 'registered') return [];
        const same =
          JSON.stringify(state.quarantine ?? []) === JSON.stringify(command.data.entries);
        return same ? [] : [{ type: 'DatastoreQuarantineObserved', data: command.data }];
      }
      default:
        return assertNever(command);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'DatastoreRegistered':
        return { status: 'registered', ...event.data, claims: {}, usage: null };
      case 'DatastoreRenamed':
        if (state.status !== 'registered')
          throw new Error(`${event.type} applied to an unregistered datastore`);
        return { ...state, name: event.data.name };
      case 'DatastoreRemoved':
        return { status: 'removed', ...event.data };
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
      case 'DatastoreLayerRestored': {
        if (state.status !== 'registered')
          throw new Error(`${event.type} applied to an unregistered datastore`);
        const { layerId } = event.data;
        return {
          ...state,
          quarantine: state.quarantine?.filter((e) => !(e.kind === 'layer' && e.entry === layerId)),
        };
      }
      case 'DatastoreQuarantineObserved': {
        if (state.status !== 'registered')
          throw new Error(`${event.type} applied to an unregistered datastore`);
        return { ...state, quarantine: event.data.entries };
      }
      case 'DatastoreInaccessible': {
        if (state.status !== 'registered')
          throw new Error(`${event.type} applied to an unregistered datastore`);
        const { workerId, code, reason } = event.data;
        return { ...state, inaccessible: { ...state.inaccessible, [workerId]: { code, reason } } };
      }
      case 'DatastoreAccessible': {
        if (state.status !== 'registered')
          throw new Error(`${event.type} applied to an unregistered datastore`);
        const { [event.data.workerId]: _gone, ...rest } = state.inaccessible ?? {};
        const { inaccessible: _all, ...others } = state;
        return Object.keys(rest).length > 0 ? { ...others, inaccessible: rest } : others;
      }
      default:
        return assertNever(event);
    }
  },
};
