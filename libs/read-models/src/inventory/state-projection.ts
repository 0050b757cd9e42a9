import type { RecordedEvent, StreamType } from '@dolly/contracts';
import { type Event, objectIdOf } from '@dolly/domain';
import type { Projection, ProjectionTarget } from '../projection';

/**
 * A read model that keeps an aggregate's own state, folded with the domain's `evolve` (one
 * definition of what each event means), plus the columns lists filter and sort on. A batch loads
 * each touched row once, folds all of its events, and writes it once.
 */
export interface StateProjectionSpec<State> {
  name: string;
  table: string;
  key: string;
  streamType: StreamType;
  evolve(state: State, event: Event): State;
  initialState(): State;
  /** The row's columns besides key, state, version and times; null removes the row. */
  columns(state: State): Record<string, unknown> | null;
  createdColumn: string;
  /** Whether the table keeps the stream version (for ETags). */
  versioned: boolean;
}

/** Every this many versions of a stream, its state is kept as a snapshot (as-of folds start there). */
export const SNAPSHOT_EVERY = 32;
/** Where the state projections keep their snapshots (one table for every kind of object). */
export const SNAPSHOT_TABLE = 'state_snapshots';

/** An object's state after an event whose version is a multiple of SNAPSHOT_EVERY. */
interface Snapshot {
  streamId: string;
  version: number;
  position: string;
  occurredAt: string;
  state: unknown;
}

/** Events by their stream, each stream's in the order given. */
export function groupByStream(events: readonly RecordedEvent[]): Map<string, RecordedEvent[]> {
  const byStream = new Map<string, RecordedEvent[]>();
  for (const event of events) {
    const list = byStream.get(event.streamId);
    if (list) list.push(event);
    else byStream.set(event.streamId, [event]);
  }
  return byStream;
}

/** A state projection keeps its spec: as-of queries fold with the same evolve and columns. */
export type StateProjection<State> = Projection & { spec: StateProjectionSpec<State> };

export function stateProjection<State>(spec: StateProjectionSpec<State>): StateProjection<State> {
  return {
    spec,
    name: spec.name,
    tables: [spec.table],
    handles: (event) => event.streamType === spec.streamType,
    async applyAll(events, target) {
      const byStream = groupByStream(events);
      const ids = [...byStream.keys()].map(objectIdOf);
      const table = target.table(spec.table);
      const { rows } = (await target.query(
        `SELECT ${spec.key}::text AS id, state, ${spec.createdColumn} AS created FROM ${table} WHERE ${spec.key} = ANY($1)`,
        [ids],
      )) as { rows: { id: string; state: State; created: Date }[] };
      const existing = new Map(rows.map((row) => [row.id, row]));
      const kept: Record<string, unknown>[] = [];
      const removed: string[] = [];
      const snapshots: Snapshot[] = [];
      for (const [streamId, streamEvents] of byStream) {
        const id = objectIdOf(streamId);
        const row = existing.get(id);
        const state = streamEvents.reduce<State>(
          (folded, event) => {
            const next = spec.evolve(folded, event as unknown as Event);
            if (event.streamVersion % SNAPSHOT_EVERY === 0)
              snapshots.push({
                streamId,
                version: event.streamVersion,
                position: event.globalPosition,
                occurredAt: event.occurredAt,
                state: next,
              });
            return next;
          },
          row ? row.state : spec.initialState(),
        );
        const last = streamEvents[streamEvents.length - 1];
        const columns = spec.columns(state);
        if (columns === null) removed.push(id);
        else
          kept.push({
            [spec.key]: id,
            ...columns,
            state,
            [spec.createdColumn]: row?.created.toISOString() ?? streamEvents[0].occurredAt,
            updated_at: last.occurredAt,
            ...(spec.versioned ? { version: last.streamVersion } : {}),
          });
      }
      await writeAll(spec, target, table, kept, removed);
      await writeSnapshots(target, snapshots);
    },
  };
}

/**
 * A batch's snapshots in one statement, each with the latest time of the events up to it: for a
 * stream, the latest time its newest snapshot before the batch recorded, then the running maximum
 * of its events' times from there (times need not rise with versions). Few: one per
 * SNAPSHOT_EVERY events of a stream.
 */
async function writeSnapshots(target: ProjectionTarget, snapshots: Snapshot[]): Promise<void> {
  if (snapshots.length === 0) return;
  const table = target.table(SNAPSHOT_TABLE);
  await target.query(
    `WITH taken AS (
       SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::timestamptz[], $5::text[])
         AS t(stream_id, stream_version, global_position, occurred_at, state)),
     spans AS (
       SELECT stream_id, min(stream_version) - $6::int AS after_version, max(stream_version) AS last_version
         FROM taken GROUP BY stream_id),
     running AS (
       SELECT e.stream_id, e.stream_version,
              max(e.occurred_at) OVER (PARTITION BY e.stream_id ORDER BY e.stream_version) AS latest
         FROM spans s JOIN event_store.events e ON e.stream_id = s.stream_id
          AND e.stream_version > s.after_version AND e.stream_version <= s.last_version)
     INSERT INTO ${table}
       (stream_id, stream_version, global_position, created_at, occurred_at, latest_occurred_at, state)
     SELECT t.stream_id, t.stream_version, t.global_position,
            (SELECT occurred_at FROM event_store.events WHERE stream_id = t.stream_id AND stream_version = 1),
            t.occurred_at,
            greatest(
              (SELECT latest_occurred_at FROM ${table} b
                WHERE b.stream_id = t.stream_id AND b.stream_version = s.after_version),
              r.latest),
            t.state::jsonb
       FROM taken t JOIN spans s USING (stream_id)
       JOIN running r ON r.stream_id = t.stream_id AND r.stream_version = t.stream_version
     ON CONFLICT (stream_id, stream_version) DO NOTHING`,
    [
      snapshots.map((snapshot) => snapshot.streamId),
      snapshots.map((snapshot) => snapshot.version),
      snapshots.map((snapshot) => snapshot.position),
      snapshots.map((snapshot) => snapshot.occurredAt),
      snapshots.map((snapshot) => JSON.stringify(snapshot.state)),
      SNAPSHOT_EVERY,
    ],
  );
}

/**
 * A batch's rows in two statements, whatever its size: the rows kept, typed by the table itself
 * (json_populate_recordset), inserted or updated (the created column kept as it was); those gone,
 * deleted.
 */
async function writeAll<State>(
  spec: StateProjectionSpec<State>,
  target: ProjectionTarget,
  table: string,
  kept: Record<string, unknown>[],
  removed: string[],
): Promise<void> {
  if (removed.length > 0)
    await target.query(`DELETE FROM ${table} WHERE ${spec.key} = ANY($1)`, [removed]);
  if (kept.length === 0) return;
  const names = Object.keys(kept[0]);
  await target.query(
    `INSERT INTO ${table} (${names.join(', ')})
     SELECT ${names.join(', ')} FROM json_populate_recordset(NULL::${table}, $1::json)
     ON CONFLICT (${spec.key}) DO UPDATE SET ${names
       .filter((name) => name !== spec.key && name !== spec.createdColumn)
       .map((name) => `${name} = excluded.${name}`)
       .join(', ')}`,
    [JSON.stringify(kept)],
  );
}
