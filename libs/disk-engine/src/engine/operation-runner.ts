/**
 * How every graph-changing operation runs, whatever it does:
 *  1. admission by operation id (replay a recorded outcome, join one under way, refuse an id
 *     reused for another command);
 *  2. in a section (below): decide against the current graph, take the layer locks, reserve
 *     space, and log `started` with the intent (events, temporary and published file names, the
 *     locks and the space it holds, its owner);
 *  3. the physical work, outside any section, under temporary names;
 *  4. in a section: log `committed` (the commit point) and fold the events;
 *  5. after the commit: remove what the operation released.
 * A failure removes what the operation wrote and logs `failed` (an in-place change whose commit
 * alone failed is left `started` instead); a crash leaves `started`. An operation left `started`
 * is finished from the files (rolled forward or back, see check.ts) by the next section of its
 * datastore, in this engine or another, once nobody works on it (owners.ts), or at a start.
 *
 * Several engines (worker processes) may share a datastore. A section is this process's mutex
 * plus the datastore's log lock (datastore-store.ts); inside it the engine first reads what the
 * others logged, finishes the operations of owners that are gone, and only then admits, decides
 * and appends. Operations under way in other processes hold what their `started` record says:
 * their layer locks and reserved bytes count here as if they were this process's own.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskEngineError, isDiskEngineError, toDiskErrorData } from '../errors';
import { type DiskEngineEvent, evolveAll } from '../model/events';
import { type LayerGraph, graphOfDatastore, replaceDatastoreGraph } from '../model/layer-graph';
import { assertValidId } from '../model/names';
import {
  type OperationIntent,
  type OperationLogEntry,
  type OperationRecord,
  admit,
  applyLogEntry,
  fingerprintOf,
} from '../model/operation-log';
import { type DatastoreStore, foldEntries, trimRecords } from '../store/datastore-store';
import { UNDETERMINED_PROBE, probeHolds } from './check';
import { type LockRequest, LockTable, Mutex } from './locks';
import { type Owners } from './owners';

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

/** How an operation cut short was finished. */
export type Finished = 'rolled-forward' | 'rolled-back';

export interface RunnerOptions {
  owners: Owners;
  now: () => string;
  /**
   * The datastore whose log a command goes to, known before deciding (its lock is taken first).
   * May throw DISK.NOT_FOUND like the decision would.
   */
  datastoreOf: (kind: string, command: Record<string, unknown>) => string;
  /** Called when other processes changed a datastore (cached measures of it are stale). */
  onChanged?: (datastoreId: string) => void;
  /** Called when an operation cut short (its owner gone) was finished here. */
  onFinished?: (record: OperationRecord, how: Finished) => void;
  onTiming?: (timing: OperationTiming) => void;
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
  readonly now: () => string;
  private readonly inFlight = new Map<string, { fingerprint: string; running: Promise<unknown> }>();
  /** Operations whose `started` line this engine logged and that it still works on. */
  private readonly underWay = new Set<string>();
  private readonly reserved = new Map<string, number>();

  constructor(
    readonly datastores: ReadonlyMap<string, Datastore>,
    graph: LayerGraph,
    records: Iterable<OperationRecord>,
    private readonly options: RunnerOptions,
  ) {
    this.graph = graph;
    this.now = options.now;
    for (const record of records) this.records.set(record.operationId, record);
  }

  get owners(): Owners {
    return this.options.owners;
  }

  datastore(datastoreId: string): Datastore {
    const datastore = this.datastores.get(datastoreId);
    if (!datastore) {
      throw new DiskEngineError('DISK.NOT_FOUND', `no datastore ${datastoreId}`, { datastoreId });
    }
    return datastore;
  }

  /** Bytes promised to operations under way on the datastore, in this process and others. */
  reservedBytes(datastoreId: string): number {
    const elsewhere = this.runningElsewhere()
      .filter((r) => r.datastoreId === datastoreId)
      .reduce((sum, r) => sum + (r.intent.reserveBytes ?? 0), 0);
    return (this.reserved.get(datastoreId) ?? 0) + elsewhere;
  }

  /**
   * Whether an unfinished operation is being worked on: by this engine (it is under way here), or
   * by another one that is alive. Otherwise it was cut short and may be finished.
   */
  isRunning(record: OperationRecord, { fresh = false } = {}): boolean {
    if (record.owner?.ownerId === this.owners.self.ownerId)
      return this.underWay.has(record.operationId);
    return this.owners.isAlive(this.datastore(record.datastoreId).root, record.owner, { fresh });
  }

  /** Operations started by other engines that are alive and have not finished. */
  private runningElsewhere(): OperationRecord[] {
    return [...this.records.values()].filter(
      (r) =>
        r.status === 'started' &&
        r.owner?.ownerId !== this.owners.self.ownerId &&
        this.datastores.has(r.datastoreId) &&
        this.isRunning(r),
    );
  }

  /** Reads what other processes logged in every datastore, without waiting for any lock. */
  /**
   * Reads what other engines logged on every datastore. One whose log cannot be read now (its
   * folder gone, an I/O error) is left as last read: the work of the others goes on, and work on
   * it fails when it touches the folder.
   */
  refreshAll(): void {
    for (const datastoreId of this.datastores.keys()) {
      try {
        this.refresh(datastoreId, false);
      } catch {
        // Left as last read.
      }
    }
  }

  private refresh(datastoreId: string, locked: boolean): void {
    const changes = this.datastore(datastoreId).store.readNew(locked);
    if (changes.kind === 'entries') {
      if (changes.entries.length === 0) return;
      this.graph = foldEntries(this.graph, this.records, changes.entries);
    } else {
      for (const record of [...this.records.values()])
        if (record.datastoreId === datastoreId) this.records.delete(record.operationId);
      for (const record of changes.loaded.records.values())
        this.records.set(record.operationId, record);
      this.graph = replaceDatastoreGraph(this.graph, datastoreId, changes.loaded.graph);
    }
    this.options.onChanged?.(datastoreId);
  }

  /**
   * Runs `section` as the datastore's one writer, across processes: this process's mutex, then
   * the datastore's log lock; inside, the log is read up to its end and operations whose owner is
   * gone are finished, so that `section` decides on the whole truth.
   */
  section<T>(datastoreId: string, section: () => Promise<T>, finishCutShort = true): Promise<T> {
    const { store } = this.datastore(datastoreId);
    return this.mutex.run(() =>
      store.locked(async () => {
        this.refresh(datastoreId, true);
        if (finishCutShort) await this.finishCutShortOnes(datastoreId);
        return section();
      }),
    );
  }

  private async finishCutShortOnes(datastoreId: string): Promise<void> {
    const cutShort = [...this.records.values()].filter(
      (r) => r.datastoreId === datastoreId && r.status === 'started' && !this.isRunning(r),
    );
    for (const record of cutShort) {
      const how = await this.finishCutShort(record);
      this.options.onFinished?.(record, how);
      if (record.owner)
        await this.owners.forget(this.datastore(datastoreId).root, record.owner.ownerId);
    }
  }

  /**
   * Finishes an operation cut short, from the files alone: forward when its completion probe holds
   * (the in-place change is done), back otherwise. Call inside a section of its datastore.
   */
  async finishCutShort(record: OperationRecord): Promise<Finished> {
    const { root } = this.datastore(record.datastoreId);
    const holds = await probeHolds(root, record);
    if (holds === 'undetermined')
      throw new DiskEngineError('DISK.QEMU_FAILED', UNDETERMINED_PROBE, {
        operationId: record.operationId,
        undetermined: true,
      });
    if (holds) {
      await this.commit(
        record.datastoreId,
        record.operationId,
        record.intent.events,
        record.intent.result ?? null,
      );
      for (const name of [...record.intent.removedFiles, ...record.intent.temporaryFiles])
        await rm(join(root, name), { force: true, recursive: true });
      return 'rolled-forward';
    }
    await this.removeWritten(record.datastoreId, record.intent);
    await this.log(record.datastoreId, {
      phase: 'abandoned',
      operationId: record.operationId,
      at: this.now(),
      reason: 'cut short; rolled back',
    });
    return 'rolled-back';
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
    if (current) {
      throw new DiskEngineError(
        'DISK.OPERATION_CONFLICT',
        `operation ${operationId} is under way with another command`,
        { operationId },
      );
    }
    // A recorded outcome is final: replayed without waiting for any lock. Anything else is
    // admitted again inside the section, where the record is up to date.
    this.refreshAll();
    const early = this.admission(operationId, fingerprint, false);
    if (early) return early.replay as R;
    const running = this.execute(kind, command, fingerprint, prepare, decide);
    this.inFlight.set(operationId, { fingerprint, running });
    try {
      return await running;
    } finally {
      this.inFlight.delete(operationId);
    }
  }

  /**
   * What the log says of an operation id: a result to replay, a refusal (thrown), or undefined to
   * run it. `final`: inside a section, where an unfinished record belongs to a live owner (cut
   * short ones are finished first), so the operation is in progress elsewhere.
   */
  private admission(
    operationId: string,
    fingerprint: string,
    final: boolean,
  ): { replay: unknown } | undefined {
    const admission = admit(this.records.get(operationId), fingerprint);
    switch (admission.kind) {
      case 'replay-result':
        return { replay: admission.result };
      case 'replay-error':
        throw DiskEngineError.fromJSON(admission.error);
      case 'conflict':
        throw new DiskEngineError(
          'DISK.OPERATION_CONFLICT',
          `operation ${operationId} was a ${admission.kindOfRecorded}`,
          { operationId },
        );
      case 'in-flight': {
        if (!final) return undefined;
        const owner = this.records.get(operationId)?.owner;
        throw new DiskEngineError(
          'DISK.OPERATION_IN_PROGRESS',
          `operation ${operationId} is under way in another worker`,
          { operationId, owner },
        );
      }
      case 'run':
        return undefined;
    }
  }

  /** Appends to the datastore's log and moves the record along. Call inside a section. */
  async log(datastoreId: string, entry: OperationLogEntry): Promise<void> {
    await this.datastore(datastoreId).store.append(entry);
    this.records.set(entry.operationId, applyLogEntry(this.records.get(entry.operationId), entry));
  }

  /** The commit point: the events become the graph. Call inside a section. */
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

  /** Lets the operations under way here end (a clean stop): until then this engine owns them. */
  async drain(): Promise<void> {
    while (this.inFlight.size)
      await Promise.allSettled([...this.inFlight.values()].map((f) => f.running));
  }

  /**
   * Checkpoints every datastore (at a clean stop). One whose folder has gone (unmounted, replaced
   * by a file) cannot be: its log stays as it was, replayed when it is opened again, and the
   * others are still checkpointed. Returns the ones that could not be, with why.
   */
  async checkpointAll(): Promise<{ datastoreId: string; error: Error }[]> {
    const failed: { datastoreId: string; error: Error }[] = [];
    for (const { datastoreId, store } of this.datastores.values()) {
      await this.section(datastoreId, async () => {
        trimRecords(this.records);
        await store.checkpoint(
          graphOfDatastore(this.graph, datastoreId),
          this.records,
          this.now(),
          true,
        );
      }).catch((error: Error) => failed.push({ datastoreId, error }));
    }
    return failed;
  }

  /** Whether an operation under way, here or in another engine, holds the key. */
  isHeld(key: string): boolean {
    return (
      this.locks.holds(key) ||
      this.runningElsewhere().some(
        (r) => r.intent.locks?.exclusive.includes(key) || r.intent.locks?.shared.includes(key),
      )
    );
  }

  private async execute<C extends { operationId: string }, P, R>(
    kind: string,
    command: C,
    fingerprint: string,
    prepare: () => Promise<P>,
    decide: (graph: LayerGraph, prepared: P) => PlannedOperation<R>,
  ): Promise<R> {
    const { operationId } = command;
    const phasesMs: Record<string, number> = {};
    let mark = performance.now();
    const lap = (phase: string) => {
      const now = performance.now();
      phasesMs[phase] = now - mark;
      mark = now;
    };
    const prepared = await prepare();
    lap('prepare');
    const datastoreId =
      this.records.get(operationId)?.datastoreId ??
      this.options.datastoreOf(kind, command as unknown as Record<string, unknown>);
    let release = () => {};
    let staged: Promise<void> | undefined;
    const decided = await this.section(datastoreId, async () => {
      const replay = this.admission(operationId, fingerprint, true);
      if (replay) return replay;
      const plan = decide(this.graph, prepared);
      if (plan.datastoreId !== datastoreId)
        throw new Error(
          `${kind} ${operationId} decided on ${plan.datastoreId}, not ${datastoreId}`,
        );
      release = this.locks.acquire(operationId, plan.locks, this.runningElsewhere());
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
          intent: {
            ...plan.intent,
            events: plan.events,
            result: plan.result,
            locks: plan.locks,
            ...(plan.reserveBytes ? { reserveBytes: plan.reserveBytes } : {}),
          },
          owner: this.owners.self,
        });
        this.underWay.add(operationId);
      } catch (error) {
        await staged?.catch(() => undefined);
        await this.removeWritten(plan.datastoreId, plan.intent);
        this.reserve(plan.datastoreId, -(plan.reserveBytes ?? 0));
        release();
        throw error;
      }
      return { plan };
    });
    if ('replay' in decided) return decided.replay as R;
    const planned = decided.plan;
    lap('decide-and-log');
    let workDone = false;
    try {
      await staged;
      await planned.execute?.();
      lap('execute');
      const result = planned.finish ? await planned.finish(planned.result) : planned.result;
      lap('finish');
      workDone = true;
      await this.section(datastoreId, async () => {
        this.assertStillOwned(operationId);
        await this.commit(datastoreId, operationId, planned.events, result);
      });
      lap('commit');
      await planned.afterCommit?.().catch(() => undefined);
      lap('after-commit');
      this.options.onTiming?.({ kind, operationId, phasesMs });
      return result;
    } catch (error) {
      if (isDiskEngineError(error, 'DISK.OPERATION_TAKEN_OVER')) throw error;
      // A change made in place (merge, rebase) cannot be taken back by removing files: when only
      // its commit failed (the log lock not had in time...), it stays `started` and the next
      // section (a retry's included) finishes it from its probe, forward, as after a crash.
      if (workDone && planned.intent.completedWhen) throw error;
      await this.removeWritten(datastoreId, planned.intent);
      await this.section(datastoreId, async () => {
        this.assertStillOwned(operationId);
        await this.log(datastoreId, {
          phase: 'failed',
          operationId,
          at: this.now(),
          error: toDiskErrorData(error),
        });
      }).catch(() => undefined);
      throw error;
    } finally {
      this.underWay.delete(operationId);
      this.reserve(datastoreId, -(planned.reserveBytes ?? 0));
      release();
    }
  }

  /**
   * Fencing: another engine finishes an operation only when its owner is gone, so finding it
   * finished by someone else means this engine was taken for gone (its locks lost, on a file
   * system that dropped them). Whatever the other engine decided stands; this one stops.
   */
  private assertStillOwned(operationId: string): void {
    const record = this.records.get(operationId);
    if (record?.status !== 'started' || record.owner?.ownerId !== this.owners.self.ownerId) {
      throw new DiskEngineError(
        'DISK.OPERATION_TAKEN_OVER',
        `operation ${operationId} was finished by another worker`,
        { operationId, status: record?.status },
      );
    }
  }

  async removeWritten(
    datastoreId: string,
    intent: Pick<OperationIntent, 'temporaryFiles' | 'publishedFiles'>,
  ): Promise<void> {
    const { root } = this.datastore(datastoreId);
    // Recursive: a temporary name may be a folder (an export's staging folder).
    for (const name of [...intent.temporaryFiles, ...intent.publishedFiles]) {
      await rm(join(root, name), { force: true, recursive: true });
    }
  }

  /**
   * Adds to (or, negative, gives back) what this process holds reserved on a datastore. Besides
   * the runner's own per-operation reservations: a file an operation grows as it goes (an import's
   * spool), checked and reserved piece by piece; other processes see only the fixed part.
   */
  reserve(datastoreId: string, bytes: number): void {
    this.reserved.set(datastoreId, (this.reserved.get(datastoreId) ?? 0) + bytes);
  }
}
