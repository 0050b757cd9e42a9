import {
  DatastoreRegisteredData,
  HostRegisteredData,
  TemplateConvertedToVmData,
  VmConvertedToTemplateData,
  VmCreatedData,
  VmDeletedData,
  VmPoweredOffData,
  VmPoweredOnData,
  VmRenamedData,
  VmSuspendedData,
} from '@dolly/domain';
import type { TSchema } from '@sinclair/typebox';

/**
 * Every event type Dolly publishes, with each schema version it has ever had. A published
 * version's schema never changes meaning: a change is a new version, with an upcaster from the one
 * before, so old events in the store still read as the current type.
 */
export type StreamType = 'host' | 'datastore' | 'vm';

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

const v1 = (schema: TSchema): EventSchemaVersion[] => [{ version: 1, schema, since: '0.1.0' }];

export const EVENT_CATALOG: readonly CatalogEntry[] = [
  {
    type: 'HostRegistered',
    streamType: 'host',
    summary: 'A compute host joined the inventory.',
    versions: v1(HostRegisteredData),
  },
  {
    type: 'DatastoreRegistered',
    streamType: 'datastore',
    summary: 'A datastore joined the inventory.',
    versions: v1(DatastoreRegisteredData),
  },
  {
    type: 'VmCreated',
    streamType: 'vm',
    summary: 'A VM was created, powered off.',
    versions: v1(VmCreatedData),
  },
  {
    type: 'VmPoweredOn',
    streamType: 'vm',
    summary: 'A VM was powered on or resumed.',
    versions: v1(VmPoweredOnData),
  },
  {
    type: 'VmPoweredOff',
    streamType: 'vm',
    summary: 'A VM was powered off.',
    versions: v1(VmPoweredOffData),
  },
  {
    type: 'VmSuspended',
    streamType: 'vm',
    summary: 'A running VM was suspended.',
    versions: v1(VmSuspendedData),
  },
  {
    type: 'VmRenamed',
    streamType: 'vm',
    summary: 'A VM or template was renamed.',
    versions: v1(VmRenamedData),
  },
  {
    type: 'VmDeleted',
    streamType: 'vm',
    summary: 'A VM or template was deleted.',
    versions: v1(VmDeletedData),
  },
  {
    type: 'VmConvertedToTemplate',
    streamType: 'vm',
    summary: 'A VM became a template, disks untouched.',
    versions: v1(VmConvertedToTemplateData),
  },
  {
    type: 'TemplateConvertedToVm',
    streamType: 'vm',
    summary: 'A template became a VM again.',
    versions: v1(TemplateConvertedToVmData),
  },
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
