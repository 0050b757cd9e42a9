/**
 * `npm run migrate` (in an image: `node dist/libs/persistence/src/migrate.js`): brings Dolly's
 * database to this build's schema before the apps start, which only check it. See prepareDatabase
 * for what it reads (DATABASE_MIGRATION_URL, DATABASE_ADMIN_URL, DATABASE_URL).
 */
import { loadConfig } from '@dolly/config';
import { prepareDatabase } from './setup';

prepareDatabase(loadConfig(), (line) => console.log(`[migrate] ${line}`)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`[migrate] ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
