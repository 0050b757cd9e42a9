import { type RecordedEvent, type Refusal, storeDisagreement } from '@dolly/contracts';
import type { PostgresEventStore, Queryable } from './event-store';

/** A received event is genuine when the store holds it as it came: then it is the store's own. */
export type StoreVerdict = { genuine: true; event: RecordedEvent } | ({ genuine: false } & Refusal);

/**
 * Holds events a consumer received against the store, all in one round trip (however many there
 * are): the store is the source of truth, and an event it does not hold as received is not genuine.
 * A genuine verdict carries the event as the store reads it, so what is applied is the store's.
 */
export async function verifyAgainstStore(
  store: PostgresEventStore,
  received: readonly RecordedEvent[],
  db?: Queryable,
): Promise<StoreVerdict[]> {
  const stored = await store.eventsAt(received, db);
  return received.map((event, index) => {
    const refusal = storeDisagreement(event, stored[index]);
    return refusal ? { genuine: false, ...refusal } : { genuine: true, event: stored[index]! };
  });
}
