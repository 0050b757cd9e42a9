import { Client } from 'pg';
import { DataSource, type DataSourceOptions, type EntitySchema } from 'typeorm';
import { ensureDatabase } from './database';
import { MIGRATIONS } from './migrations';

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type EntityTarget = Function | EntitySchema;

export interface DataSourceSettings {
  databaseUrl: string;
  entities?: EntityTarget[];
  /** Connections in the pool; the event store's appends and the queries share it. */
  poolSize?: number;
  applicationName?: string;
}

export function dataSourceOptions(settings: DataSourceSettings): DataSourceOptions {
  return {
    type: 'postgres',
    url: settings.databaseUrl,
    entities: settings.entities ?? [],
    migrations: MIGRATIONS,
    migrationsTableName: 'schema_migrations',
    migrationsRun: false,
    synchronize: false,
    logging: false,
    applicationName: settings.applicationName ?? 'dolly',
    poolSize: settings.poolSize ?? 10,
  };
}

/** Any stable number: it only has to be the same in every process that migrates this database. */
const MIGRATION_LOCK = 0x646f6c6c79; // "dolly"

/**
 * Creates the database if needed and applies pending migrations, one process at a time (apps
 * started together all call this).
 */
export async function migrateDatabase(databaseUrl: string): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  const lock = new Client({ connectionString: databaseUrl });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const dataSource = new DataSource(dataSourceOptions({ databaseUrl, poolSize: 1 }));
    await dataSource.initialize();
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((migration) => migration.name);
    } finally {
      await dataSource.destroy();
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.end();
  }
}
