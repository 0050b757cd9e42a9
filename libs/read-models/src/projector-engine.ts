import type { RecordedEvent } from '@dolly/contracts';
import { EVENT_COLUMNS, rowToEvent } from '@dolly/event-store';
import type { PoolClient } from 'pg';
import { auditLogProjection } from './audit/audit-log.projection';
import {
  datastoresProjection,
  hostsProjection,
  poolsProjection,
  vmsProjection,
  workersProjection,
} from './inventory/inventory.projection';
import { type Projection, ProjectionTarget } from './projection';
import { tasksProjection } from './tasks/tasks.projection';
import { blockMapsProjection } from './inventory/block-maps.projection';
import { SNAPSHOT_TABLE } from './inventory/state-projection';

export const PROJECTIONS: readonly Projection[] = [
  hostsProjection,
  datastoresProjection,
  vmsProjection,
  workersProjection,
  poolsProjection,
  blockMapsProjection,
  tasksProjection,
  auditLogProjection,
];

/** Tables a projector keeps for itself beside the read models. */
export const BOOKKEEPING_TABLES = ['projector_streams', 'projector_offsets'] as const;

/** Every table the projections write; the state projections share their snapshots' table. */
export const READ_MODEL_TABLES = [
  ...PROJECTIONS.flatMap((projection) => projection.tables),
  SNAPSHOT_TABLE,
];

export interface ApplyOutcome {
  applied: number;
  /** Events seen before (a redelivery or a republish): recognised by stream version, skipped. */
  skippedAsDuplicates: number;
  /** Events that a gap in a stream made the projector fetch from the store itself. */
  fetchedFromStore: number;
}

/**
 * Applies events to every projection inside the caller's transaction. Each stream's last applied
 * version is kept with the read models, so an event seen twice changes nothing twice; an event
 * ahead of its stream (one went missing on the way) brings the missing ones from the store first.
 * A rebuild may name the projections it replays (the others it fills otherwise).
 */
export async function applyEvents(
  client: PoolClient,
  schema: string,
  events: readonly RecordedEvent[],
  projections: readonly Projection[] = PROJECTIONS,
): Promise<ApplyOutcome> {
  const target = new ProjectionTarget(client, schema);
  const outcome: ApplyOutcome = { applied: 0, skippedAsDuplicates: 0, fetchedFromStore: 0 };
  if (events.length === 0) return outcome;

  const streamIds = [...new Set(events.map((event) => event.streamId))];
  const { rows } = await client.query<{
    stream_id: string;
    version: number;
    global_position: string;
  }>(
    `SELECT stream_id, version, global_position::text FROM ${target.table('projector_streams')} WHERE stream_id = ANY($1)`,
    [streamIds],
  );
  const applied = new Map(
    rows.map((row) => [row.stream_id, { version: row.version, position: row.global_position }]),
  );
  const changed = new Set<string>();

  const forBulk = new Map<Projection, RecordedEvent[]>();
  const applyOne = async (event: RecordedEvent) => {
    for (const projection of projections) {
      if (!projection.handles(event)) continue;
      if ('apply' in projection) await projection.apply(event, target);
      else if (forBulk.has(projection)) forBulk.get(projection)!.push(event);
      else forBulk.set(projection, [event]);
    }
    applied.set(event.streamId, { version: event.streamVersion, position: event.globalPosition });
    changed.add(event.streamId);
    outcome.applied += 1;
  };

  for (const event of events) {
    const last = applied.get(event.streamId)?.version ?? 0;
    if (event.streamVersion <= last) {
      outcome.skippedAsDuplicates += 1;
      continue;
    }
    if (event.streamVersion > last + 1) {
      const missing = await client.query(
        `SELECT ${EVENT_COLUMNS}
           FROM event_store.events WHERE stream_id = $1 AND stream_version > $2 AND stream_version < $3
          ORDER BY stream_version`,
        [event.streamId, last, event.streamVersion],
      );
      for (const row of missing.rows) {
        await applyOne(rowToEvent(row));
        outcome.fetchedFromStore += 1;
      }
    }
    await applyOne(event);
  }

  for (const [projection, bulk] of forBulk) {
    if ('applyAll' in projection) await projection.applyAll(bulk, target);
  }
  const updates = [...changed].map((streamId) => ({ streamId, ...applied.get(streamId)! }));
  await client.query(
    `INSERT INTO ${target.table('projector_streams')} (stream_id, version, global_position)
     SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])
     ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, global_position = excluded.global_position`,
    [updates.map((u) => u.streamId), updates.map((u) => u.version), updates.map((u) => u.position)],
  );
  return outcome;
}
