/**
 * Every kind of stream the store holds, and how a stream's id is written: `<kind>-<object id>`
 * (`vm-<uuid>`). Stored events, outbox rows and published messages carry these ids: the format
 * never changes.
 */
export const STREAM_KINDS = ['host', 'datastore', 'vm', 'task', 'worker', 'pool'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

/** A stream named by its kind and the id of the object it is about (a VM's id, a task's id...). */
export interface StreamKey<K extends StreamKind = StreamKind> {
  kind: K;
  id: string;
}

/** The stream of an object of a kind: `stream('vm', vmId)`. */
export const stream = <K extends StreamKind>(kind: K, id: string): StreamKey<K> => ({ kind, id });

/** The id the store knows a stream by. */
export const streamIdOf = (key: StreamKey): string => `${key.kind}-${key.id}`;

/** The id of the object a stream is about (`vm-<uuid>` → `<uuid>`). */
export const objectIdOf = (streamId: string): string => streamId.slice(streamId.indexOf('-') + 1);

/** The stream an id names; undefined when its kind is none Dolly knows. */
export function parseStreamId(streamId: string): StreamKey | undefined {
  const kind = STREAM_KINDS.find((k) => streamId.startsWith(`${k}-`));
  return kind && { kind, id: objectIdOf(streamId) };
}
