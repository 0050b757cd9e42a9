/**
 * The operation log's state machine. Every operation is recorded before it touches a file
 * (`started`, with its intent) and after (`committed` with its events and result, `failed`, or
 * `abandoned` by check after a crash). Replaying a datastore's log rebuilds its graph, and the
 * records make every operation idempotent by its id:
 *
 *   (none) --start--> started --commit--> committed   (a retry replays the result)
 *                        |----fail-----> failed       (a retry replays a permanent error,
 *                        |                              runs again after a retryable one)
 *                        '---abandon---> abandoned    (check rolled it back; a retry runs again)
 */
import { type DiskErrorData } from '../errors';
import { type DiskEngineEvent } from './events';

/** How check finishes an operation that was cut short, decided from the files alone. */
export interface CompletionProbe {
  /** The operation finished its physical part iff this file stands on `backingFileName`... */
  fileName: string;
  backingFileName: string | null;
  /** ...and (when given) this file is gone. */
  absentFileName?: string;
}

/** Layer and disk keys an operation holds until it ends (see engine/locks.ts). */
export interface LockRequest {
  /** Changed by the operation: nobody else may read or change them meanwhile. */
  exclusive: string[];
  /** Read by the operation: others may read them too, nobody may change them. */
  shared: string[];
}

/**
 * The engine (worker process) that started an operation. Only `ownerId` decides anything: the
 * owner holds a lock named after it while it lives (engine/owners.ts); the rest is for people.
 */
export interface OperationOwner {
  ownerId: string;
  hostname: string;
  pid: number;
  /** ISO-8601: when the owning engine started. */
  startedAt: string;
}

export interface OperationIntent {
  /** The events the operation commits if it completes. */
  events: DiskEngineEvent[];
  /** Files written under temporary names: removed unless the operation commits. */
  temporaryFiles: string[];
  /** Files the operation renames into place: removed if it is abandoned. */
  publishedFiles: string[];
  /** Files that go once the operation has committed (reclaimed layers). */
  removedFiles: string[];
  /** Present for operations that change files in place (consolidate, materialise). */
  completedWhen?: CompletionProbe;
  /** The result the caller gets, as decided; check commits it when it rolls forward. */
  result?: unknown;
  /** What the operation holds while under way, so that other processes respect it too. */
  locks?: LockRequest;
  /** Bytes promised to the operation while under way (space checks count them as used). */
  reserveBytes?: number;
}

export type OperationLogEntry =
  | {
      phase: 'started';
      operationId: string;
      kind: string;
      datastoreId: string;
      /** The command without its id, as canonical JSON: a reused id with another command is refused. */
      fingerprint: string;
      at: string;
      intent: OperationIntent;
      /** Absent in logs written before engines shared datastores: such an owner counts as gone. */
      owner?: OperationOwner;
    }
  | {
      phase: 'committed';
      operationId: string;
      at: string;
      events: DiskEngineEvent[];
      result: unknown;
    }
  | { phase: 'failed'; operationId: string; at: string; error: DiskErrorData }
  | { phase: 'abandoned'; operationId: string; at: string; reason: string };

export type OperationStatus = 'started' | 'committed' | 'failed' | 'abandoned';

export interface OperationRecord {
  operationId: string;
  kind: string;
  datastoreId: string;
  fingerprint: string;
  status: OperationStatus;
  startedAt: string;
  finishedAt?: string;
  intent: OperationIntent;
  owner?: OperationOwner;
  result?: unknown;
  error?: DiskErrorData;
}

export class IllegalTransition extends Error {
  override readonly name = 'IllegalTransition';
}

export function applyLogEntry(
  record: OperationRecord | undefined,
  entry: OperationLogEntry,
): OperationRecord {
  if (entry.phase === 'started') {
    if (record && !mayRunAgain(record)) {
      throw new IllegalTransition(`${entry.operationId}: cannot start again from ${record.status}`);
    }
    return {
      operationId: entry.operationId,
      kind: entry.kind,
      datastoreId: entry.datastoreId,
      fingerprint: entry.fingerprint,
      status: 'started',
      startedAt: entry.at,
      intent: entry.intent,
      ...(entry.owner ? { owner: entry.owner } : {}),
    };
  }
  if (!record || record.status !== 'started') {
    throw new IllegalTransition(
      `${entry.operationId}: ${entry.phase} needs started, not ${record?.status ?? 'nothing'}`,
    );
  }
  switch (entry.phase) {
    case 'committed':
      return { ...record, status: 'committed', finishedAt: entry.at, result: entry.result };
    case 'failed':
      return { ...record, status: 'failed', finishedAt: entry.at, error: entry.error };
    case 'abandoned':
      return { ...record, status: 'abandoned', finishedAt: entry.at };
    default: {
      const unknown: never = entry;
      throw new IllegalTransition(`unknown phase in ${JSON.stringify(unknown)}`);
    }
  }
}

function mayRunAgain(record: OperationRecord): boolean {
  return (
    record.status === 'abandoned' ||
    (record.status === 'failed' && record.error?.retryable === true)
  );
}

export type Admission =
  | { kind: 'run' }
  | { kind: 'in-flight' }
  | { kind: 'replay-result'; result: unknown }
  | { kind: 'replay-error'; error: DiskErrorData }
  | { kind: 'conflict'; kindOfRecorded: string };

/** What to do with a request for an operation id the log may already know. */
export function admit(record: OperationRecord | undefined, fingerprint: string): Admission {
  if (!record) return { kind: 'run' };
  if (record.fingerprint !== fingerprint) return { kind: 'conflict', kindOfRecorded: record.kind };
  switch (record.status) {
    case 'started':
      return { kind: 'in-flight' };
    case 'committed':
      return { kind: 'replay-result', result: record.result };
    case 'failed':
      return mayRunAgain(record) ? { kind: 'run' } : { kind: 'replay-error', error: record.error! };
    case 'abandoned':
      return { kind: 'run' };
    default: {
      const unknown: never = record.status;
      throw new IllegalTransition(`unknown status ${String(unknown)}`);
    }
  }
}

/** Canonical JSON (sorted keys) so that the same command always yields the same fingerprint. */
export function fingerprintOf(command: Record<string, unknown>): string {
  const { operationId: _id, ...rest } = command;
  return JSON.stringify(sortKeys(rest));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}
