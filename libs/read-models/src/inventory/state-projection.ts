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

/** A state projection keeps its spec: as-of queries fold with the same evolve and columns. */
export type StateProjection<State> = Projection & { spec: StateProjectionSpec<State> };

export function stateProjection<State>(spec: StateProjectionSpec<State>): StateProjection<State> {
  return {
    spec,
    name: spec.name,
    tables: [spec.table],
    handles: (event) => event.streamType === spec.streamType,
    async applyAll(events, target) {
      const byStream = new Map<string, RecordedEvent[]>();
      for (const event of events) {
        const list = byStream.get(event.streamId);
        if (list) list.push(event);
        else byStream.set(event.streamId, [event]);
      }
      const ids = [...byStream.keys()].map(objectIdOf);
      const table = target.table(spec.table);
      const { rows } = (await target.query(
        `SELECT ${spec.key}::text AS id, state, ${spec.createdColumn} AS created FROM ${table} WHERE ${spec.key} = ANY($1)`,
        [ids],
      )) as { rows: { id: string; state: State; created: Date }[] };
      const existing = new Map(rows.map((row) => [row.id, row]));
      for (const [streamId, streamEvents] of byStream) {
        const id = objectIdOf(streamId);
        const row = existing.get(id);
        const state = streamEvents.reduce<State>(
          (folded, event) => spec.evolve(folded, event as unknown as Event),
          row ? row.state : spec.initialState(),
        );
        const last = streamEvents[streamEvents.length - 1];
        await write(
          spec,
          target,
          table,
          id,
          state,
          row?.created.toISOString() ?? streamEvents[0].occurredAt,
          last,
        );
      }
    },
  };
}

async function write<State>(
  spec: StateProjectionSpec<State>,
  target: ProjectionTarget,
  table: string,
  id: string,
  state: State,
  createdAt: string,
  last: RecordedEvent,
): Promise<void> {
  const columns = spec.columns(state);
  if (columns === null) {
    await target.query(`DELETE FROM ${table} WHERE ${spec.key} = $1`, [id]);
    return;
  }
  const all: Record<string, unknown> = {
    [spec.key]: id,
    ...columns,
    state: JSON.stringify(state),
    [spec.createdColumn]: createdAt,
    updated_at: last.occurredAt,
    ...(spec.versioned ? { version: last.streamVersion } : {}),
  };
  const names = Object.keys(all);
  await target.query(
    `INSERT INTO ${table} (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})
     ON CONFLICT (${spec.key}) DO UPDATE SET ${names
       .filter((name) => name !== spec.key && name !== spec.createdColumn)
       .map((name) => `${name} = excluded.${name}`)
       .join(', ')}`,
    names.map((name) => all[name]),
  );
}
