/**
 * A transaction left open holds back every reader of the global order: Dolly's sessions are ended
 * by the server after idle_in_transaction_session_timeout, and the pool lives on when they are.
 */
import { type TestDatabase, createTestDatabase } from '@dolly/testing';
import { Pool } from 'pg';
import { dataSourceOptions, survivesEndedSessions } from './data-source';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase(1);
});
afterAll(() => db.drop());

it('ends a session left idle in a transaction, and the pool goes on serving', async () => {
  const options = dataSourceOptions({ databaseUrl: db.url, idleInTransactionTimeoutMs: 300 });
  const pool = new Pool({ connectionString: db.url, max: 2, ...(options.extra as object) });
  const warnings: string[] = [];
  survivesEndedSessions(pool, (message, error) => warnings.push(`${message}: ${error.message}`));
  try {
    const forgotten = await pool.connect();
    await forgotten.query('BEGIN');
    const { rows } = await forgotten.query<{ timeout: string }>(
      `SELECT current_setting('idle_in_transaction_session_timeout') AS timeout, pg_current_xact_id()`,
    );
    expect(rows[0].timeout).toBe('300ms');
    // The server ends it; without a listener node-postgres would throw that out of the process.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(warnings).toContainEqual(expect.stringMatching(/idle-in-transaction timeout/));
    await expect(forgotten.query('SELECT 1')).rejects.toThrow();
    forgotten.release();
    const { rows: after } = await pool.query<{ ok: number }>('SELECT 1 AS ok');
    expect(after).toEqual([{ ok: 1 }]);
  } finally {
    await pool.end();
  }
});
