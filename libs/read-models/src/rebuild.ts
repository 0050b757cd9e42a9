import { PostgresEventStore, START_OF_STORE } from '@dolly/event-store';
import type { Pool } from 'pg';
import { BOOKKEEPING_TABLES, READ_MODEL_TABLES, applyEvents } from './projector-engine';
import { LIVE_SCHEMA } from './projection';

/** How long a rebuild waits for a long transaction elsewhere to let the last events be read. */
const HORIZON_WAIT_MS = 120_000;

export interface RebuildResult {
  schema: string;
  events: number;
}

const q = (identifier: string) => `"${identifier.replace(/"/g, '""')}"`;

/**
 * Rebuilds every read model from the event store into a fresh schema, shaped like the live one.
 * The live tables are not touched; compare them with `compareReadModels`.
 */
export async function rebuildReadModels(
  pool: Pool,
  schema: string,
  batchSize = 1000,
): Promise<RebuildResult> {
  if (schema === LIVE_SCHEMA) throw new Error('A rebuild never writes into the live schema');
  await pool.query(`CREATE SCHEMA ${q(schema)}`);
  for (const table of [...READ_MODEL_TABLES, 'projector_streams']) {
    await pool.query(
      `CREATE TABLE ${q(schema)}.${q(table)} (LIKE ${q(LIVE_SCHEMA)}.${q(table)} INCLUDING ALL)`,
    );
  }
  const store = new PostgresEventStore(pool);
  // Events committed before the rebuild began are all read, even those a transaction still open
  // elsewhere in the cluster holds behind the snapshot horizon for a while.
  const { rows } = await pool.query<{ count: string }>(
    'SELECT count(*) AS count FROM event_store.events',
  );
  const committedAtStart = Number(rows[0].count);
  const deadline = Date.now() + HORIZON_WAIT_MS;
  let checkpoint = START_OF_STORE;
  let events = 0;
  for (;;) {
    const page = await store.readAll(checkpoint, batchSize);
    if (page.events.length === 0) {
      if (events >= committedAtStart) return { schema, events };
      if (Date.now() > deadline)
        throw new Error(
          `Rebuild read ${events} of ${committedAtStart} events: the snapshot horizon did not move`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    await store.transaction((client) => applyEvents(client, schema, page.events));
    events += page.events.length;
    checkpoint = page.checkpoint;
  }
}

export interface TableDifference {
  table: string;
  /** Rows in the first schema that the second lacks, and the other way round. */
  onlyInFirst: number;
  onlyInSecond: number;
}

/** Row-for-row comparison of the read models in two schemas. Empty means equal. */
export async function compareReadModels(
  pool: Pool,
  first: string,
  second: string,
): Promise<TableDifference[]> {
  const differences: TableDifference[] = [];
  for (const table of READ_MODEL_TABLES) {
    const a = `${q(first)}.${q(table)}`;
    const b = `${q(second)}.${q(table)}`;
    const { rows } = await pool.query<{ only_in_first: number; only_in_second: number }>(
      `SELECT (SELECT count(*) FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b}) x)::int AS only_in_first,
              (SELECT count(*) FROM (SELECT * FROM ${b} EXCEPT ALL SELECT * FROM ${a}) y)::int AS only_in_second`,
    );
    const { only_in_first: onlyInFirst, only_in_second: onlyInSecond } = rows[0];
    if (onlyInFirst || onlyInSecond) differences.push({ table, onlyInFirst, onlyInSecond });
  }
  return differences;
}

export async function dropSchema(pool: Pool, schema: string): Promise<void> {
  if (schema === LIVE_SCHEMA) throw new Error('Refusing to drop the live read models');
  await pool.query(`DROP SCHEMA IF EXISTS ${q(schema)} CASCADE`);
}

export { BOOKKEEPING_TABLES };
