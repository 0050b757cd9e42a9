import {
  DatastoreAccessibleData,
  DatastoreInaccessibleData,
  DatastoreLayerRestoredData,
  DatastoreQuarantineObservedData,
  DatastoreRegisteredData,
  DatastoreRemovedData,
  DatastoreRenamedData,
  DatastoreSpaceReleasedData,
  DatastoreSpaceReservedData,
  DatastoreUsageMeasuredData,
  HostRegisteredData,
  POOL_EVENT_SCHEMAS,
  TaskCancelRequestedData,
  TaskTransferOpenedData,
  TaskCancelledData,
  TaskFailedData,
  TaskQueuedData,
  TaskStartedData,
  TaskSucceededData,
  type StreamKind,
  VM_EVENT_SCHEMAS,
  WorkerAnnouncedData,
} from '@dolly/domain';
import type { TSchema } from '@sinclair/typebox';
import {
  DATASTORE_REGISTERED_EARLIER,
  POOL_EVENT_EARLIER_VERSIONS,
  TASK_QUEUED_EARLIER,
  TASK_FAILED_EARLIER,
  VM_EVENT_EARLIER_VERSIONS,
} from './earlier-versions';

/**
 * Every event type Dolly publishes, with each schema version it has ever had. A published
 * version's schema never changes meaning: a change is a new version, with an upcaster from the one
 * before, so old events in the store still read as the current type.
 */
export type StreamType = StreamKind;

export interface EventSchemaVersion {
  version: number;
  schema: TSchema;
  /** Dolly release that introduced this version. */
  since: string;
  /** Turns data of the previous version into this one; absent for version 1. */
  upcastFromPrevious?: (data: unknown) => unknown;
}

export interface CatalogEntry {
  type: string;
  streamType: StreamType;
  summary: string;
  versions: readonly EventSchemaVersion[];
}

/** The Dolly release each schema version came with: v1 with 0.1.0, v2 with 0.2.0, ... */
const since = (version: number) => `0.${version}.0`;

/**
 * The summary of an event type is its current schema's description: one text, one place. Earlier
 * versions, oldest first, each say how their data reads as the version after them.
 */
const entry = (
  type: string,
  streamType: StreamType,
  schema: TSchema,
  earlier: readonly { schema: TSchema; upcastToNext: (data: unknown) => unknown }[] = [],
): CatalogEntry => ({
  type,
  streamType,
  summary: schema.description ?? type,
  versions: [...earlier.map((e) => e.schema), schema].map((versionSchema, index) => ({
    version: index + 1,
    schema: versionSchema,
    since: since(index + 1),
    upcastFromPrevious: index === 0 ? undefined : earlier[index - 1].upcastToNext,
  })),
});

export const EVENT_CATALOG: readonly CatalogEntry[] = [
  entry('HostRegistered', 'host', HostRegisteredData),
  entry('DatastoreRegistered', 'datastore', DatastoreRegisteredData, DATASTORE_REGISTERED_EARLIER),
  entry('DatastoreRenamed', 'datastore', DatastoreRenamedData),
  entry('DatastoreRemoved', 'datastore', DatastoreRemovedData),
  entry('DatastoreSpaceReserved', 'datastore', DatastoreSpaceReservedData),
  entry('DatastoreSpaceReleased', 'datastore', DatastoreSpaceReleasedData),
  entry('DatastoreUsageMeasured', 'datastore', DatastoreUsageMeasuredData),
  entry('DatastoreInaccessible', 'datastore', DatastoreInaccessibleData),
  entry('DatastoreAccessible', 'datastore', DatastoreAccessibleData),
  entry('DatastoreQuarantineObserved', 'datastore', DatastoreQuarantineObservedData),
  entry('DatastoreLayerRestored', 'datastore', DatastoreLayerRestoredData),
  ...Object.entries(VM_EVENT_SCHEMAS).map(([type, schema]) =>
    entry(type, 'vm', schema, VM_EVENT_EARLIER_VERSIONS[type as keyof typeof VM_EVENT_SCHEMAS]),
  ),
  entry('TaskQueued', 'task', TaskQueuedData, TASK_QUEUED_EARLIER),
  entry('TaskStarted', 'task', TaskStartedData),
  entry('TaskSucceeded', 'task', TaskSucceededData),
  entry('TaskFailed', 'task', TaskFailedData, TASK_FAILED_EARLIER),
  entry('TaskCancelRequested', 'task', TaskCancelRequestedData),
  entry('TaskTransferOpened', 'task', TaskTransferOpenedData),
  entry('TaskCancelled', 'task', TaskCancelledData),
  entry('WorkerAnnounced', 'worker', WorkerAnnouncedData),
  ...Object.entries(POOL_EVENT_SCHEMAS).map(([type, schema]) =>
    entry(
      type,
      'pool',
      schema,
      POOL_EVENT_EARLIER_VERSIONS[type as keyof typeof POOL_EVENT_SCHEMAS],
    ),
  ),
];

const byType = new Map(EVENT_CATALOG.map((entry) => [entry.type, entry]));

export class UnknownEventTypeError extends Error {
  constructor(type: string, version?: number) {
    super(`Unknown event type ${type}${version === undefined ? '' : ` version ${version}`}`);
  }
}

export function catalogEntry(type: string): CatalogEntry {
  const entry = byType.get(type);
  if (!entry) throw new UnknownEventTypeError(type);
  return entry;
}

export function currentSchemaVersion(type: string): number {
  const { versions } = catalogEntry(type);
  return versions[versions.length - 1].version;
}

/** Reads data written under any known version as the current version of its type. */
export function upcastToCurrent(type: string, schemaVersion: number, data: unknown): unknown {
  const { versions } = catalogEntry(type);
  const index = versions.findIndex((v) => v.version === schemaVersion);
  if (index < 0) throw new UnknownEventTypeError(type, schemaVersion);
  return versions.slice(index + 1).reduce((value, next) => next.upcastFromPrevious!(value), data);
}
