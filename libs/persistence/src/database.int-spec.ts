import { randomBytes } from 'node:crypto';
import { TEST_DATABASE_PREFIX, serverUrl } from '@dolly/testing';
import { dropDatabase, ensureDatabase, withDatabase } from './database';

/** Named like test databases, so a run killed mid-way has its leftovers cleared by a later one. */
const freshUrl = () =>
  withDatabase(
    serverUrl(),
    `${TEST_DATABASE_PREFIX}${Math.floor(Date.now() / 1000)}_race_${randomBytes(3).toString('hex')}`,
  );

describe('ensureDatabase', () => {
  const made: string[] = [];
  afterAll(async () => {
    for (const url of made) await dropDatabase(url);
  });

  // PostgreSQL refuses the second of two concurrent CREATE DATABASE with a unique violation on
  // pg_database (23505), not with "already exists" (42P04): both mean another process made it.
  it('creates a database once when several processes ask for it at the same moment', async () => {
    for (let round = 0; round < 5; round++) {
      const url = freshUrl();
      made.push(url);

      const results = await Promise.allSettled(
        Array.from({ length: 6 }, () => ensureDatabase(url)),
      );

      const failures = results.flatMap((result) =>
        result.status === 'rejected' ? [String(result.reason)] : [],
      );
      expect(failures).toEqual([]);
      const created = results.filter((result) => result.status === 'fulfilled' && result.value);
      expect(created).toHaveLength(1);
    }
  });
});
