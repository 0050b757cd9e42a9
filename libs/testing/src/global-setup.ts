// Global setup runs outside Jest's module mapping: resolve the @dolly/* aliases from tsconfig.json here.
import 'tsconfig-paths/register';
import { dropDatabase, withDatabase } from '@dolly/persistence';
import { Client } from 'pg';
import { type RunningServices, ensureServices } from '../../../tools/dev/services';
import { removeAbandonedPrefixes } from './kafka-fixtures';
import { TEST_DATABASE_PREFIX, ensureTemplateDatabase, serverUrl } from './test-database';

/** Test databases older than this were left by a run that was killed. */
const ABANDONED_AFTER_SECONDS = 6 * 3600;

declare global {
  var dollyTestServices: RunningServices | undefined;
}

/**
 * Runs once before the integration and end-to-end suites: finds or starts PostgreSQL and Kafka
 * (tests use real ones, always), makes Dolly's roles and the migrated template database that each
 * test file copies, and clears the databases and Kafka prefixes that killed runs left behind.
 */
export default async function globalSetup(): Promise<void> {
  // Each Jest project runs this; the first one's services are the ones teardown stops.
  globalThis.dollyTestServices ??= await ensureServices((line) =>
    console.log(`\n[test setup] ${line}`),
  );
  const services = globalThis.dollyTestServices;
  // Test workers start after this and inherit the environment.
  process.env.DATABASE_URL = services.databaseUrl;
  Object.assign(process.env, services.kafkaEnv);

  const admin = new Client({ connectionString: withDatabase(serverUrl(), 'postgres') });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1)',
      [TEST_DATABASE_PREFIX],
    );
    const now = Date.now() / 1000;
    for (const { datname } of rows) {
      const createdAt = Number(datname.slice(TEST_DATABASE_PREFIX.length).split('_')[0]);
      if (now - createdAt > ABANDONED_AFTER_SECONDS)
        await dropDatabase(withDatabase(serverUrl(), datname));
    }
  } finally {
    await admin.end();
  }
  await ensureTemplateDatabase();
  // Topics and consumer groups that killed runs left on the broker, by their prefix's time.
  await removeAbandonedPrefixes(ABANDONED_AFTER_SECONDS);
}
