import { EVENT_COLUMNS, LAST_GLOBAL_POSITION, rowToEvent } from '@dolly/event-store';
import {
  BLOCK_MAPS_END,
  type DiskBlockMap,
  type Event,
  type VmEvent,
  diskBlockMapOf,
  objectIdOf,
} from '@dolly/domain';
import type { Pool } from 'pg';
import { SNAPSHOT_TABLE, type StateProjection, groupByStream } from './inventory/state-projection';
import { LIVE_SCHEMA } from './projection';

/**
 * The inventory as it was at an instant, folded from the store with the projections' own evolve
 * and columns (one meaning of each event, as live): a page of objects is found among the streams
 * that had begun by then, in id order, and each of them is folded up to the instant, from its
 * newest snapshot recorded by then (see SNAPSHOT_EVERY). What one answer costs is at most
 * SNAPSHOT_EVERY events of each object on its page, not the length of the history.
 */

/** An instant: a global position (everything recorded up to it) or a time (everything by then). */
export type Instant = { position: string } | { time: string };

/** Everything recorded so far. */
export const NOW: Instant = { position: LAST_GLOBAL_POSITION };

/** An object as its read model row read then. */
export interface RowAsOf<State> {
  id: string;
  state: State;
  /** The read model's own columns (snake_case), as filters read them. */
  columns: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

/**
 * SQL keeping the rows of `alias` (events, or audit log entries) recorded by an instant whose
 * bounds are the parameters `$first` (a position) and `$first + 1` (a time), as
 * `instantParameters` gives them; both null: everything.
 */
export function recordedBy(alias: string, first: number): string {
  return `($${first}::bigint IS NULL OR ${alias}.global_position <= $${first}::bigint)
    AND ($${first + 1}::timestamptz IS NULL OR ${alias}.occurred_at <= $${first + 1}::timestamptz)`;
}

/** The two parameters `recordedBy` reads; null instant: now. */
export function instantParameters(instant: Instant | null): [string | null, string | null] {
  if (!instant) return [null, null];
  return 'position' in instant ? [instant.position, null] : [null, instant.time];
}

const VISIBLE = recordedBy('e', 2);

/** The newest snapshot of each stream that stands for the instant: all its events recorded by then. */
const SNAPSHOTS_AS_OF = `
  SELECT DISTINCT ON (stream_id) stream_id, stream_version, created_at, occurred_at, state
    FROM ${LIVE_SCHEMA}.${SNAPSHOT_TABLE}
   WHERE stream_id = ANY($1)
     AND ($2::bigint IS NULL OR global_position <= $2::bigint)
     AND ($3::timestamptz IS NULL OR latest_occurred_at <= $3::timestamptz)
   ORDER BY stream_id, stream_version DESC`;

interface SnapshotRow<State> {
  stream_id: string;
  stream_version: number;
  created_at: Date;
  occurred_at: Date;
  state: State;
}

async function fold<State>(
  pool: Pool,
  projection: StateProjection<State>,
  instant: Instant,
  streamIds: string[],
): Promise<Map<string, RowAsOf<State>>> {
  const { spec } = projection;
  const { rows: snapshotRows } = await pool.query<SnapshotRow<State>>(SNAPSHOTS_AS_OF, [
    streamIds,
    ...instantParameters(instant),
  ]);
  const snapshots = new Map(snapshotRows.map((row) => [row.stream_id, row]));
  // Each stream's events after its snapshot (all of them without one), recorded by then.
  const { rows } = await pool.query<Parameters<typeof rowToEvent>[0]>(
    `SELECT ${EVENT_COLUMNS} FROM event_store.events e
       JOIN unnest($1::text[], $4::int[]) AS s(from_stream, after_version)
         ON e.stream_id = s.from_stream AND e.stream_version > s.after_version
      WHERE ${VISIBLE}
      ORDER BY e.stream_id, e.stream_version`,
    [
      streamIds,
      ...instantParameters(instant),
      streamIds.map((id) => snapshots.get(id)?.stream_version ?? 0),
    ],
  );
  const byStream = groupByStream(rows.map(rowToEvent));
  const folded = new Map<string, RowAsOf<State>>();
  for (const streamId of streamIds) {
    const snapshot = snapshots.get(streamId);
    const events = byStream.get(streamId) ?? [];
    if (!snapshot && events.length === 0) continue;
    const state = events.reduce<State>(
      (before, event) => spec.evolve(before, event as unknown as Event),
      snapshot ? snapshot.state : spec.initialState(),
    );
    // As the row keeps it: through JSON.
    const kept = JSON.parse(JSON.stringify(state)) as State;
    const columns = spec.columns(kept);
    const last = events[events.length - 1];
    if (columns)
      folded.set(objectIdOf(streamId), {
        id: objectIdOf(streamId),
        state: kept,
        columns,
        createdAt: snapshot ? new Date(snapshot.created_at) : new Date(events[0].occurredAt),
        updatedAt: last ? new Date(last.occurredAt) : new Date(snapshot!.occurred_at),
        version: last ? last.streamVersion : snapshot!.stream_version,
      });
  }
  return folded;
}

/** These objects as they were then; an id unknown or gone by then is left out. */
export async function objectsAsOf<State>(
  pool: Pool,
  projection: StateProjection<State>,
  instant: Instant,
  ids: string[],
): Promise<RowAsOf<State>[]> {
  const streamIds = ids.map((id) => `${projection.spec.streamType}-${id}`);
  const folded = await fold(pool, projection, instant, streamIds);
  return ids.flatMap((id) => folded.get(id) ?? []);
}

/**
 * A page of the objects there were then, in id order after `after`, keeping those `keep` allows:
 * at most `limit`, and whether more may follow.
 */
export async function pageAsOf<State>(
  pool: Pool,
  projection: StateProjection<State>,
  instant: Instant,
  page: { after: string | undefined; limit: number; keep: (row: RowAsOf<State>) => boolean },
): Promise<{ rows: RowAsOf<State>[]; more: boolean }> {
  const kind = projection.spec.streamType;
  const kept: RowAsOf<State>[] = [];
  let after = page.after === undefined ? '' : `${kind}-${page.after}`;
  const batch = Math.max(page.limit + 1, 100);
  for (;;) {
    const { rows } = await pool.query<{ stream_id: string }>(
      `SELECT e.stream_id FROM event_store.events e
        WHERE e.stream_type = $1 AND e.stream_version = 1 AND ${VISIBLE} AND e.stream_id > $4
        ORDER BY e.stream_id LIMIT $5`,
      [kind, ...instantParameters(instant), after, batch],
    );
    if (rows.length === 0) return { rows: kept, more: false };
    const streamIds = rows.map((row) => row.stream_id);
    const folded = await fold(pool, projection, instant, streamIds);
    for (const streamId of streamIds) {
      const row = folded.get(objectIdOf(streamId));
      if (!row || !page.keep(row)) continue;
      if (kept.length === page.limit) return { rows: kept, more: true };
      kept.push(row);
    }
    if (rows.length < batch) return { rows: kept, more: false };
    after = streamIds[streamIds.length - 1];
  }
}

const camel = (column: string) =>
  column.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());

/**
 * A row folded as of an instant in the shape of its read model's entity (the key, the columns,
 * the state and the times under their property names), for the views that show live rows.
 */
export function asEntity<Entity, State = unknown>(
  projection: StateProjection<State>,
  row: RowAsOf<State>,
): Entity {
  const { spec } = projection;
  return {
    ...Object.fromEntries(
      Object.entries(row.columns).map(([column, value]) => [camel(column), value]),
    ),
    [camel(spec.key)]: row.id,
    state: row.state,
    [camel(spec.createdColumn)]: row.createdAt,
    updatedAt: row.updatedAt,
    version: row.version,
  } as Entity;
}

/**
 * The streams of these kinds that changed after `from` up to `to` (their ids, in order), at most
 * `limit`: what a diff between the two instants compares.
 */
export async function streamsChangedBetween(
  pool: Pool,
  kinds: readonly string[],
  from: Instant,
  to: Instant,
  limit: number,
): Promise<string[]> {
  const { rows } = await pool.query<{ stream_id: string }>(
    `SELECT DISTINCT e.stream_id FROM event_store.events e
      WHERE e.stream_type = ANY($1) AND ${VISIBLE}
        AND NOT (${recordedBy('e', 4)})
      ORDER BY e.stream_id LIMIT $6`,
    [kinds, ...instantParameters(to), ...instantParameters(from), limit],
  );
  return rows.map((row) => row.stream_id);
}

/** A disk's block map as the read model showed it then: the map, and when it was measured. */
export type BlockMapAsOf = DiskBlockMap & { measuredAt: string };

/**
 * A disk's block map as it was at an instant, folded from its VM's measures recorded by then
 * with the projection's own meaning of them (`diskBlockMapOf`); null when it had none then (not
 * measured yet, or its VM gone). A VM's measures are few: one a provisioning or a clone.
 */
export async function blockMapAsOf(
  pool: Pool,
  vmId: string,
  diskId: string,
  instant: Instant,
): Promise<BlockMapAsOf | null> {
  const { rows } = await pool.query<Parameters<typeof rowToEvent>[0]>(
    `SELECT ${EVENT_COLUMNS} FROM event_store.events e
      WHERE e.stream_id = $1 AND ${VISIBLE} AND e.type = ANY($4::text[])
      ORDER BY e.stream_version`,
    [`vm-${vmId}`, ...instantParameters(instant), ['VmBlockMapsMeasured', ...BLOCK_MAPS_END]],
  );
  return rows.map(rowToEvent).reduce<BlockMapAsOf | null>((map, recorded) => {
    const event = recorded as unknown as VmEvent;
    if (event.type !== 'VmBlockMapsMeasured') return null;
    const disk = event.data.disks.find((measured) => measured.diskId === diskId);
    if (!disk) return map;
    return { ...diskBlockMapOf(disk, map?.extents), measuredAt: recorded.occurredAt };
  }, null);
}
