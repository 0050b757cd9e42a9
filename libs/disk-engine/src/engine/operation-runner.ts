/**
 * How every graph-changing operation runs, whatever it does:
 *  1. admission by operation id (replay a recorded outcome, join one under way, refuse an id
 *     reused for another command);
 *  2. in the critical section: decide against the current graph, take the layer locks, reserve
 *     space, and log `started` with the intent (events, temporary and published file names);
 *  3. the physical work, outside the critical section, under temporary names;
 *  4. in the critical section: log `committed` (the commit point) and fold the events;
 *  5. after the commit: remove what the operation released.
 * A failure removes what the operation wrote and logs `failed`; a crash leaves `started`, which
 * check resolves from the files at the next start.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskEngineError, toDiskErrorData } from '../errors';
import { type DiskEngineEvent, evolveAll } from '../model/events';
import { type LayerGraph, graphOfDatastore } from '../model/layer-graph';
import { assertValidId } from '../model/names';
import {
  type OperationIntent,
  type OperationLogEntry,
  type OperationRecord,
  admit,
  applyLogEntry,
  fingerprintOf,
} from '../model/operation-log';
import { type DatastoreStore, trimRecords } from '../store/datastore-store';
import { type LockRequest, LockTable, Mutex } from './locks';

export interface Datastore {
  datastoreId: string;
  root: string;
  capacityBytes?: number;
  store: DatastoreStore;
}

export interface PlannedOperation<R> {
  datastoreId: string;
  events: DiskEngineEvent[];
  intent: Omit<OperationIntent, 'events'>;
  locks: LockRequest;
  /** Bytes promised to this operation until it ends (space checks of others see them as used). */
  reserveBytes?: number;
  /** What the caller gets back; known when deciding, so that check can commit it after a crash. */
  result: R;
  /**
   * Work on temporary names only, which may start before the `started` line is on disk: a
   * temporary file is removed by check whatever the log says, so only publishing (a rename into
   * a layer's name) has to wait for the intent to be durable.
   */
  stage?: () => Promise<void>;
  /** The physical work once `started` is durable, publishing included; it must not change the graph. */
  execute?: () => Promise<void>;
  /** Adds what only the finished work can tell (allocated bytes...). */
  finish?: (result: R) => Promise<R>;
  /** Work after the commit point (removing released files, exporting); never undoes the commit. */
  afterCommit?: () => Promise<void>;
}

/** Where an operation's time went, phase by phase, in milliseconds: for metrics and the benchmark. */
export interface OperationTiming {
  kind: string;
  operationId: string;
  phasesMs: Record<string, number>;
}

export class OperationRunner {
  graph: LayerGraph;
  readonly records = new Map<string, OperationRecord>();
  readonly locks = new LockTable();
  readonly mutex = new Mutex();
  private readonly inFlight = new Map<string, { fingerprint: string; running: Promise<unknown> }>();
  private readonly reserved = new Map<string, number>();

  constructor(
    readonly datastores: ReadonlyMap<string, Datastore>,
    graph: LayerGraph,
    records: Iterable<OperationRecord>,
    readonly now: () => string,
    private readonly onTiming?: (timing: OperationTiming) => void,
  ) {
    this.graph = graph;
    for (const record of records) this.records.set(record.operationId, record);
  }

  datastore(datastoreId: string): Datastore {
    const datastore = this.datastores.get(datastoreId);
    if (!datastore) {
      throw new DiskEngineError('DISK.NOT_FOUND', `no datastore ${datastoreId}`, { datastoreId });
    }
    return datastore;
  }

  reservedBytes(datastoreId: string): number {
    return this.reserved.get(datastoreId) ?? 0;
  }

  isInFlight(operationId: string): boolean {
    return this.inFlight.has(operationId);
  }

  async run<C extends { operationId: string }, P, R>(
    kind: string,
    command: C,
    prepare: () => Promise<P>,
    decide: (graph: LayerGraph, prepared: P) => PlannedOperation<R>,
  ): Promise<R> {
    assertValidId('operation', command.operationId);
    const { operationId } = command;
    const fingerprint = fingerprintOf({ kind, ...command });
    const current = this.inFlight.get(operationId);
    if (current?.fingerprint === fingerprint) return current.running as Promise<R>;
    const admission = admit(this.records.get(operationId), fingerprint);
    switch (admission.kind) {
      case 'replay-result':
        return admission.result as R;
      case 'replay-error':
        throw DiskEngineError.fromJSON(admission.error);
      case 'conflict':
        throw new DiskEngineError(
          'DISK.OPERATION_CONFLICT',
          `operation ${operationId} was a ${admission.kindOfRecorded}`,
          {
            operationId,
          },
        );
      case 'in-flight':
        throw new DiskEngineError('DISK.BUSY', `operation ${operationId} awaits check`, {
          operationId,
        });
      case 'run':
        break;
    }
    if (current) {
      throw new DiskEngineError(
        'DISK.OPERATION_CONFLICT',
        `operation ${operationId} is under way with another command`,
        {
          operationId,
        },
      );
    }
    const running = this.execute(kind, operationId, fingerprint, prepare, decide);
    this.inFlight.set(operationId, { fingerprint, running });
    try {
      return await running;
    } finally {
      this.inFlight.delete(operationId);
    }
  }

  /** Appends to the datastore's log and moves the record along. */
  async log(datastoreId: string, entry: OperationLogEntry): Promise<void> {
    await this.datastore(datastoreId).store.append(entry);
    this.records.set(entry.operationId, applyLogEntry(this.records.get(entry.operationId), entry));
  }

  /** The commit point: the events become the graph. Call inside the mutex. */
  async commit(
    datastoreId: string,
    operationId: string,
    events: DiskEngineEvent[],
    result: unknown,
  ): Promise<void> {
    await this.log(datastoreId, {
      phase: 'committed',
      operationId,
      at: this.now(),
      events,
      result,
    });
    this.graph = evolveAll(this.graph, events);
    const { store } = this.datastore(datastoreId);
    if (store.checkpointDue) {
      trimRecords(this.records);
      await store.checkpoint(graphOfDatastore(this.graph, datastoreId), this.records, this.now());
    }
  }

  /** Checkpoints every datastore (at a clean stop). */
  async checkpointAll(): Promise<void> {
    await this.mutex.run(async () => {
      trimRecords(this.records);
      for (const { datastoreId, store } of this.datastores.values()) {
        await store.checkpoint(
          graphOfDatastore(this.graph, datastoreId),
          this.records,
          this.now(),
          true,
        );
      }
    });
  }

  private async execute<P, R>(
    kind: string,
    operationId: string,
    fingerprint: string,
    prepare: () => Promise<P>,
    decide: (graph: LayerGraph, prepared: P) => PlannedOperation<R>,
  ): Promise<R> {
    const phasesMs: Record<string, number> = {};
    let mark = performance.now();
    const lap = (phase: string) => {
      const now = performance.now();
      phasesMs[phase] = now - mark;
      mark = now;
    };
    const prepared = await prepare();
    lap('prepare');
    let release = () => {};
    let staged: Promise<void> | undefined;
    const planned = await this.mutex.run(async () => {
      const plan = decide(this.graph, prepared);
      release = this.locks.acquire(operationId, plan.locks);
      try {
        this.reserve(plan.datastoreId, plan.reserveBytes ?? 0);
        staged = plan.stage?.();
        // Awaited after the log line; a failure meanwhile must not count as unhandled.
        staged?.catch(() => undefined);
        await this.log(plan.datastoreId, {
          phase: 'started',
          operationId,
          kind,
          datastoreId: plan.datastoreId,
          fingerprint,
          at: this.now(),
          intent: { ...plan.intent, events: plan.events, result: plan.result },
        });
      } catch (error) {
        await staged?.catch(() => undefined);
        await this.removeWritten(plan.datastoreId, plan.intent);
        this.reserve(plan.datastoreId, -(plan.reserveBytes ?? 0));
        release();
        throw error;
      }
      return plan;
    });
    const { datastoreId } = planned;
    lap('decide-and-log');
    try {
      await staged;
      await planned.execute?.();
      lap('execute');
      const result = planned.finish ? await planned.finish(planned.result) : planned.result;
      lap('finish');
      await this.mutex.run(() => this.commit(datastoreId, operationId, planned.events, result));
      lap('commit');
      await planned.afterCommit?.().catch(() => undefined);
      lap('after-commit');
      this.onTiming?.({ kind, operationId, phasesMs });
      return result;
    } catch (error) {
      await this.removeWritten(datastoreId, planned.intent);
      await this.mutex
        .run(() =>
          this.log(datastoreId, {
            phase: 'failed',
            operationId,
            at: this.now(),
            error: toDiskErrorData(error),
          }),
        )
        .catch(() => undefined);
      throw error;
    } finally {
      this.reserve(datastoreId, -(planned.reserveBytes ?? 0));
      release();
    }
  }

  async removeWritten(
    datastoreId: string,
    intent: Pick<OperationIntent, 'temporaryFiles' | 'publishedFiles'>,
  ): Promise<void> {
    const { root } = this.datastore(datastoreId);
    for (const name of [...intent.temporaryFiles, ...intent.publishedFiles]) {
      await rm(join(root, name), { force: true });
    }
  }

  private reserve(datastoreId: string, bytes: number): void {
    this.reserved.set(datastoreId, (this.reserved.get(datastoreId) ?? 0) + bytes);
  }
}
