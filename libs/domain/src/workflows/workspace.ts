import {
  type DatastoreContext,
  type DatastoreState,
  datastoreDecider,
} from '../datastore/datastore';
import type { DatastoreEvent } from '../datastore/datastore.events';
import { type HostState, hostDecider } from '../host/host';
import type { HostEvent } from '../host/host.events';
import { type PoolState, poolDecider } from '../pool/pool';
import type { PoolEvent } from '../pool/pool.events';
import type { Event } from '../shared/decider';
import type { StreamKey, StreamKind } from '../shared/streams';
import { type TaskState, taskDecider } from '../task/task';
import type { TaskEvent } from '../task/task.events';
import { type VmContext, type VmState, vmDecider } from '../vm/vm';
import type { VmEvent } from '../vm/vm.events';
import { type WorkerEvent, type WorkerState, workerDecider } from '../worker/worker';

export type { StreamKey, StreamKind } from '../shared/streams';

/** Each kind of stream as a decision across streams reads and writes it. */
export interface StreamKinds {
  vm: { state: VmState; event: VmEvent; command: Parameters<typeof vmDecider.decide>[0] };
  task: { state: TaskState; event: TaskEvent; command: Parameters<typeof taskDecider.decide>[0] };
  datastore: {
    state: DatastoreState;
    event: DatastoreEvent;
    command: Parameters<typeof datastoreDecider.decide>[0];
  };
  host: { state: HostState; event: HostEvent; command: Parameters<typeof hostDecider.decide>[0] };
  pool: { state: PoolState; event: PoolEvent; command: Parameters<typeof poolDecider.decide>[0] };
  worker: {
    state: WorkerState;
    event: WorkerEvent;
    command: Parameters<typeof workerDecider.decide>[0];
  };
}
/** The state of a stream of a kind, folded from its events. */
export type StateOf<K extends StreamKind> = StreamKinds[K]['state'];
/** The events a stream of a kind holds. */
export type EventOf<K extends StreamKind> = StreamKinds[K]['event'];

export const streamKey = (kind: StreamKind, id: string) => `${kind}:${id}`;

/** How a stream of a kind folds its events into its state. */
export interface StreamFold<K extends StreamKind> {
  initialState(): StateOf<K>;
  evolve(state: StateOf<K>, event: EventOf<K>): StateOf<K>;
}

/** How each kind of stream folds into its state. */
export const STREAM_FOLDS: { [K in StreamKind]: StreamFold<K> } = {
  vm: vmDecider,
  task: taskDecider,
  datastore: datastoreDecider,
  host: hostDecider,
  pool: poolDecider,
  worker: workerDecider,
};

/** A stream's state after some events, from the state it had (its initial state when none is given). */
export function foldStream<K extends StreamKind>(
  kind: K,
  events: readonly EventOf<K>[],
  from: StateOf<K> = STREAM_FOLDS[kind].initialState(),
): StateOf<K> {
  const fold: StreamFold<K> = STREAM_FOLDS[kind];
  return events.reduce((state, event) => fold.evolve(state, event), from);
}

/** A decision needs a stream the caller did not read: read it too and decide again. */
export class StreamNotLoadedError extends Error {
  constructor(readonly key: StreamKey) {
    super(`Stream ${streamKey(key.kind, key.id)} was not read for this decision`);
  }
}

/**
 * The streams one decision reads, and the events it makes on each. Each stream's own decider
 * decides its part, and the state every later step sees includes what earlier steps decided, so
 * a workflow reads as a sequence of commands. Streams made in this decision (new VMs, new tasks)
 * start empty; every other one must have been read.
 */
export class Workspace {
  private readonly states = new Map<string, unknown>();
  private readonly made = new Map<string, { key: StreamKey; events: Event[] }>();

  constructor(loaded: Iterable<{ key: StreamKey; state: unknown }>) {
    for (const { key, state } of loaded) this.states.set(streamKey(key.kind, key.id), state);
  }

  state<K extends StreamKind>(kind: K, id: string): StreamKinds[K]['state'] {
    const key = streamKey(kind, id);
    if (!this.states.has(key)) throw new StreamNotLoadedError({ kind, id });
    return this.states.get(key) as StreamKinds[K]['state'];
  }

  /** A stream this decision creates (its id is new): it starts empty. */
  create(kind: StreamKind, id: string): void {
    const key = streamKey(kind, id);
    if (!this.states.has(key)) this.states.set(key, STREAM_FOLDS[kind].initialState());
  }

  vm = (id: string) => this.state('vm', id);
  pool = (id: string) => this.state('pool', id);
  task = (id: string) => this.state('task', id);
  datastore = (id: string) => this.state('datastore', id);
  host = (id: string) => this.state('host', id);

  decideVm(command: StreamKinds['vm']['command'], context: VmContext = {}): VmEvent[] {
    const id = command.data.vmId;
    return this.record('vm', id, vmDecider.decide(command, this.vm(id), context));
  }

  decidePool(command: StreamKinds['pool']['command']): PoolEvent[] {
    const id = command.data.poolId;
    return this.record('pool', id, poolDecider.decide(command, this.pool(id), undefined));
  }

  decideTask(command: StreamKinds['task']['command']): TaskEvent[] {
    const id = command.data.taskId;
    if (command.type === 'QueueTask') this.create('task', id);
    return this.record('task', id, taskDecider.decide(command, this.task(id), undefined));
  }

  decideDatastore(
    command: StreamKinds['datastore']['command'],
    context?: DatastoreContext,
  ): DatastoreEvent[] {
    const id = command.data.datastoreId;
    return this.record(
      'datastore',
      id,
      datastoreDecider.decide(command, this.datastore(id), context),
    );
  }

  /** The ids of every stream of a kind this decision read or made. */
  idsOf(kind: StreamKind): string[] {
    const prefix = streamKey(kind, '');
    return [...this.states.keys()]
      .filter((key) => key.startsWith(prefix))
      .map((key) => key.slice(prefix.length));
  }

  /** Events that need no decision (measurements): folded and kept like decided ones. */
  record<K extends StreamKind>(kind: K, id: string, events: StreamKinds[K]['event'][]) {
    if (events.length === 0) return events;
    const key = streamKey(kind, id);
    this.states.set(key, foldStream(kind, events, this.states.get(key) as StateOf<K>));
    const made = this.made.get(key);
    if (made) made.events.push(...events);
    else this.made.set(key, { key: { kind, id }, events: [...events] });
    return events;
  }

  /**
   * Runs a step that may be refused part way: on a throw, every stream is back as it was before
   * the step (states are immutable, so the maps are all there is to put back).
   */
  attempt<T>(step: () => T): T {
    const states = new Map(this.states);
    const made = new Map([...this.made].map(([key, m]) => [key, { ...m, events: [...m.events] }]));
    try {
      return step();
    } catch (error) {
      this.states.clear();
      for (const [key, state] of states) this.states.set(key, state);
      this.made.clear();
      for (const [key, m] of made) this.made.set(key, m);
      throw error;
    }
  }

  /** What the decision made, stream by stream, in the order streams were first written. */
  changes(): { key: StreamKey; events: Event[] }[] {
    return [...this.made.values()];
  }
}
