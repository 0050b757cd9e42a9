import { createHash, randomBytes } from 'node:crypto';
import { DEFAULT_DATABASE_URL } from '@dolly/config';
import {
  MIGRATIONS,
  OWNER_ROLE,
  dropDatabase,
  ensureDatabase,
  migrateDatabase,
  setUpDatabase,
  withDatabase,
  withUser,
} from '@dolly/persistence';
import { Pool } from 'pg';

/**
 * The migrated database every test database is copied from. Its name carries a digest of the
 * migrations it holds (their code, too), so a run never alters a template another run may be copying.
 */
export const TEMPLATE_DATABASE = `dolly_test_template_${createHash('sha256')
  .update(
    MIGRATIONS.map((migration) => `${migration.name}:${migration.prototype.up.toString()}`).join(
      ',',
    ),
  )
  .digest('hex')
  .slice(0, 12)}`;

/**
 * Makes the template as `npm start` makes Dolly's database: the roles and the database as the
 * superuser, the migrations as the owner. Copies carry its owners, grants and default privileges.
 */
export async function ensureTemplateDatabase(): Promise<void> {
  const template = withDatabase(serverUrl(), TEMPLATE_DATABASE);
  await setUpDatabase(serverUrl(), template);
  await migrateDatabase(withUser(template, OWNER_ROLE));
}

/** Test databases are named with their creation time, so a later run can clear what a killed one left. */
export const TEST_DATABASE_PREFIX = 'dolly_test_db_';

export function serverUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
}

export interface TestDatabase {
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

const OBJECT_IN_USE = '55006';
const ADMIN_SHUTDOWN = '57P01';

/** A fresh, migrated database of its own for one test file: copied from the template (fast). */
export async function createTestDatabase(poolSize = 10): Promise<TestDatabase> {
  const name = `${TEST_DATABASE_PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  const url = withDatabase(serverUrl(), name);
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureDatabase(url, { template: TEMPLATE_DATABASE, owner: OWNER_ROLE });
      break;
    } catch (error) {
      // Another run is still connected to the template for a moment.
      if ((error as { code?: string }).code !== OBJECT_IN_USE || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  const pool = new Pool({ connectionString: url, max: poolSize });
  // Dropping the database ends its sessions (FORCE): an idle connection learning so is no failure.
  pool.on('error', (error: Error & { code?: string }) => {
    if (error.code !== ADMIN_SHUTDOWN) throw error;
  });
  return {
    url,
    pool,
    async drop() {
      await pool.end();
      await dropDatabase(url);
    },
  };
}
