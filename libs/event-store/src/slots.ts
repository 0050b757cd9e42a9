import type { EventOf, StateOf, StreamKey, StreamKind } from '@dolly/domain';
import type { Decision } from './decide-across';

/** Streams a decision reads under names of its own (a clone's `source` and `vm`); undefined: none. */
export type Slots = Record<string, StreamKey | undefined>;
type KindIn<S extends Slots, N extends keyof S> = NonNullable<S[N]>['kind'];
/** Each named stream's state (none for a name given no stream). */
export type SlotStates<S extends Slots> = {
  [N in keyof S]: undefined extends S[N]
    ? StateOf<KindIn<S, N>> | undefined
    : StateOf<KindIn<S, N>>;
};
/** The events each named stream gets (omitted or empty: none). */
export type SlotEvents<S extends Slots> = { [N in keyof S]?: readonly EventOf<KindIn<S, N>>[] };

/**
 * A decision on a few named streams, as a decision across streams: the states it decides on are
 * the Workspace's, and the events it gives each name are recorded there, in the order of the names.
 */
export function inSlots<S extends Slots>(
  slots: S,
  decide: (states: SlotStates<S>) => SlotEvents<S>,
): Decision<void> {
  const streams: StreamKey[] = [];
  for (const name in slots) {
    const key = slots[name];
    if (key) streams.push(key);
  }
  return {
    streams,
    decide(ws) {
      const states = {} as SlotStates<S>;
      for (const name in slots) {
        const key = slots[name];
        if (key) states[name] = ws.state(key.kind, key.id);
      }
      const decided = decide(states);
      for (const name in slots) {
        const key = slots[name];
        const events = decided[name];
        if (key && events) ws.record(key.kind, key.id, [...events]);
      }
    },
  };
}

/** A decision on one stream, as a decision across streams. */
export function onStream<K extends StreamKind>(
  key: StreamKey<K>,
  decide: (state: StateOf<K>) => readonly EventOf<K>[],
): Decision<void> {
  return inSlots({ stream: key }, (states) => ({ stream: decide(states.stream) }));
}
