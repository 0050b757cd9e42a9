/**
 * The decider pattern: a stream's behaviour is three pure functions. `decide` turns a command and
 * the current state into new events (or throws a DomainError); `evolve` folds one event into the
 * state; `initialState` is where every stream starts. No clock, no ids, no I/O: time and new ids
 * arrive on the command.
 */
export interface Event<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
}

export interface Command<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
}

export interface Decider<State, C extends Command, E extends Event, Context = void> {
  decide(command: C, state: State, context: Context): E[];
  evolve(state: State, event: E): State;
  initialState(): State;
}

/** Folds events into state, as the store does when it loads a stream. */
export function foldEvents<State, E extends Event>(
  decider: Pick<Decider<State, never, E, unknown>, 'evolve' | 'initialState'>,
  events: readonly E[],
): State {
  return events.reduce(decider.evolve, decider.initialState());
}

/** Makes a missing case in a switch over a union fail to compile. */
export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}
