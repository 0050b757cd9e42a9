import {
  type TestDatabase,
  appendRecordedEvents,
  createTestDatabase,
  rebuiltReadModels,
  recordedHistory,
} from '@dolly/testing';
import { type Instant, type RowAsOf, objectsAsOf, pageAsOf, streamsChangedBetween } from './as-of';
import { rebuildReadModels, switchOverReadModels } from './rebuild';
import {
  datastoresProjection,
  hostsProjection,
  poolsProjection,
  vmsProjection,
} from './inventory/inventory.projection';
import { SNAPSHOT_EVERY, type StateProjection } from './inventory/state-projection';

/**
 * The inventory as of an instant equals the read models a store holding only the history up to
 * that instant rebuilds into: checked at many instants of a recorded mixed history (clones,
 * templates, forks, a pool, imports, deletes), for every state read model, whole and by pages.
 */
const history = recordedHistory();
const MODELS: [string, StateProjection<unknown>][] = [
  ['hosts', hostsProjection as StateProjection<unknown>],
  ['datastores', datastoresProjection as StateProjection<unknown>],
  ['vms', vmsProjection as StateProjection<unknown>],
  ['pools', poolsProjection as StateProjection<unknown>],
];

let whole: TestDatabase;
let prefix: TestDatabase;
beforeAll(async () => {
  whole = await createTestDatabase(4);
  prefix = await createTestDatabase(4);
  await appendRecordedEvents(whole.pool, history.events);
  // Live read models of the whole history, with their snapshots: as a projector leaves them.
  const built = await rebuildReadModels(whole.pool, { suffix: 'live' });
  await switchOverReadModels(whole.pool, 'live', { checkpoint: built.checkpoint });
});
afterAll(async () => {
  await whole.drop();
  await prefix.drop();
});

/** A read model row as rebuilt, and a row folded as of then, in one comparable shape. */
function rebuiltShape(projection: StateProjection<unknown>, row: Record<string, unknown>) {
  const { spec } = projection;
  return {
    id: row[spec.key],
    state: row.state,
    createdAt: new Date(row[spec.createdColumn] as string).getTime(),
    updatedAt: new Date(row.updated_at as string).getTime(),
    ...(spec.versioned ? { version: row.version } : {}),
  };
}
function foldedShape(projection: StateProjection<unknown>, row: RowAsOf<unknown>) {
  return {
    id: row.id,
    state: row.state,
    createdAt: row.createdAt.getTime(),
    updatedAt: row.updatedAt.getTime(),
    ...(projection.spec.versioned ? { version: row.version } : {}),
  };
}
const byId = (a: { id: unknown }, b: { id: unknown }) => String(a.id).localeCompare(String(b.id));

async function everyPage(projection: StateProjection<unknown>, instant: Instant, limit: number) {
  const rows: RowAsOf<unknown>[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await pageAsOf(whole.pool, projection, instant, {
      after,
      limit,
      keep: () => true,
    });
    rows.push(...page.rows);
    if (!page.more) return rows;
    after = page.rows[page.rows.length - 1].id;
  }
}

it('answers as the history up to each instant rebuilds, for every state read model', async () => {
  const cuts = Array.from({ length: 12 }, (_, i) =>
    Math.round(((i + 1) * history.events.length) / 12),
  );
  let appended = 0;
  const most = new Map<string, number>();
  for (const cut of cuts) {
    await appendRecordedEvents(prefix.pool, history.events.slice(appended, cut));
    appended = cut;
    const expected = await rebuiltReadModels(prefix.pool);
    // The whole store was written in the recorded order: event n is at global position n.
    const instant = { position: String(cut) };
    for (const [table, projection] of MODELS) {
      const rebuilt = (expected[table] as Record<string, unknown>[])
        .map((row) => rebuiltShape(projection, row))
        .sort(byId);
      const paged = (await everyPage(projection, instant, 2)).map((row) =>
        foldedShape(projection, row),
      );
      expect({ cut, table, rows: paged }).toEqual({ cut, table, rows: rebuilt });
      most.set(table, Math.max(most.get(table) ?? 0, rebuilt.length));
      const ids = rebuilt.map((row) => String(row.id));
      const one = await objectsAsOf(whole.pool, projection, instant, ids);
      expect(one.map((row) => foldedShape(projection, row))).toEqual(rebuilt);
    }
  }
  // Every model had something to compare at some instant (pools: only while the pool lived).
  expect(Math.min(...most.values())).toBeGreaterThan(0);
});

it('takes an instant as a time: what had occurred by then', async () => {
  const middle = history.events[Math.floor(history.events.length / 2)];
  const byTime = await everyPage(
    vmsProjection as StateProjection<unknown>,
    { time: middle.occurredAt },
    50,
  );
  const byPosition = await everyPage(
    vmsProjection as StateProjection<unknown>,
    {
      position: String(
        history.events.filter((e) => Date.parse(e.occurredAt) <= Date.parse(middle.occurredAt))
          .length,
      ),
    },
    50,
  );
  expect(byTime.map((row) => row.id)).toEqual(byPosition.map((row) => row.id));
});

it('keeps to a filter across pages, and knows nothing before the first event', async () => {
  const vms = vmsProjection as StateProjection<unknown>;
  const now = { position: String(history.events.length) };
  const templates = await pageAsOf(whole.pool, vms, now, {
    after: undefined,
    limit: 100,
    keep: (row) => row.columns.role === 'template',
  });
  expect(templates.rows.length).toBeGreaterThan(0);
  expect(templates.rows.every((row) => row.columns.role === 'template')).toBe(true);
  expect(await everyPage(vms, { position: '0' }, 10)).toEqual([]);
});

it('names the objects whose streams moved between two instants, and only those', async () => {
  const [from, to] = [100, 250];
  const moved = [
    ...new Set(
      history.events
        .slice(from, to)
        .filter((e) => ['host', 'datastore', 'vm', 'pool'].includes(e.streamType))
        .map((e) => e.streamId),
    ),
  ].sort();
  const kinds = ['host', 'datastore', 'vm', 'pool'];
  const found = await streamsChangedBetween(
    whole.pool,
    kinds,
    { position: String(from) },
    { position: String(to) },
    1000,
  );
  expect([...found].sort()).toEqual(moved);
  expect(
    await streamsChangedBetween(whole.pool, kinds, { position: '5' }, { position: '5' }, 1000),
  ).toEqual([]);
});

it('answers the same with every snapshot dropped: they are a cache', async () => {
  const { rows: kept } = await whole.pool.query<{ stream_id: string; stream_version: number }>(
    'SELECT stream_id, stream_version FROM read_model.state_snapshots ORDER BY 1, 2',
  );
  // The history's longest streams (a datastore's, a VM's) have snapshots to start from.
  const streams = new Map<string, number>();
  for (const event of history.events)
    streams.set(event.streamId, (streams.get(event.streamId) ?? 0) + 1);
  const longest = [...streams].filter(([, length]) => length >= SNAPSHOT_EVERY);
  expect(longest.length).toBeGreaterThan(1);
  expect(kept).toEqual(
    longest
      .flatMap(([streamId, length]) =>
        Array.from({ length: Math.floor(length / SNAPSHOT_EVERY) }, (_, n) => ({
          stream_id: streamId,
          stream_version: (n + 1) * SNAPSHOT_EVERY,
        })),
      )
      .sort(
        (a, b) => a.stream_id.localeCompare(b.stream_id) || a.stream_version - b.stream_version,
      ),
  );

  const instants: Instant[] = Array.from({ length: 24 }, (_, i) => {
    const event = history.events[Math.floor(((i + 1) * history.events.length) / 24) - 1];
    return i % 2
      ? { time: event.occurredAt }
      : { position: String(Math.floor(((i + 1) * history.events.length) / 24)) };
  });
  const answers = async () => {
    const all: unknown[] = [];
    for (const instant of instants)
      for (const [, projection] of MODELS) all.push(await everyPage(projection, instant, 3));
    return all;
  };
  const withSnapshots = await answers();
  await whole.pool.query('DELETE FROM read_model.state_snapshots');
  expect(await answers()).toEqual(withSnapshots);
});
