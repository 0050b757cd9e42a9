import type { StreamType } from './event-catalog';

/** Who asked for the change, as authenticated at the edge. */
export interface Actor {
  id: string;
  role: string;
}

export interface EventMetadata {
  /** Shared by every event a request caused, and by the events those caused in turn. */
  correlationId: string;
  /** The event (or command) that directly caused this one; null for a user's command. */
  causationId: string | null;
  actor: Actor;
  /** The task the operator watches for this change, when there is one. */
  taskId: string | null;
  /** The command that was decided (CreateVm...), or null for events a worker reports. */
  command: string | null;
}

/** An event as the store recorded it: what the relay publishes and projectors apply. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  eventId: string;
  type: Type;
  schemaVersion: number;
  streamId: string;
  streamType: StreamType;
  /** 1 for the first event of a stream. */
  streamVersion: number;
  /** Position in the store's global order; a decimal string because it is a 64-bit integer. */
  globalPosition: string;
  /** ISO 8601 time the decision was taken. */
  occurredAt: string;
  data: Data;
  metadata: EventMetadata;
}
