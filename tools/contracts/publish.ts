/**
 * Writes the published contracts: one JSON Schema file per event type and version, the AsyncAPI
 * document, and the lock of schema digests. A version already in the lock is never rewritten:
 * changing a published schema fails here, and a new version must be added instead.
 *
 *   npm run contracts:publish
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type PublishedLock,
  asyncApiDocument,
  catalogSchemas,
  schemaDigest,
} from '@dolly/contracts';
import { DEFAULT_KAFKA_BROKERS } from '@dolly/config';

const root = join(__dirname, '..', '..', 'libs', 'contracts', 'published');
const lockPath = join(root, 'published.lock.json');
const version = (
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

const lock = JSON.parse(readFileSync(lockPath, 'utf8')) as PublishedLock;
const changed: string[] = [];
for (const { key, document } of catalogSchemas()) {
  const digest = schemaDigest(document);
  if (lock[key] && lock[key] !== digest) changed.push(key);
  lock[key] = lock[key] ?? digest;
  writeFileSync(
    join(root, 'events', `${key}.schema.json`),
    `${JSON.stringify(document, null, 2)}\n`,
  );
}
if (changed.length > 0) {
  console.error(
    `Published schemas changed: ${changed.join(', ')}. Add a new schema version (with an upcaster) instead.`,
  );
  process.exit(1);
}
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
writeFileSync(
  join(root, 'asyncapi.json'),
  `${JSON.stringify(asyncApiDocument({ version, brokers: [DEFAULT_KAFKA_BROKERS] }), null, 2)}\n`,
);
console.log(
  `Published ${Object.keys(lock).length} event schema versions and the AsyncAPI document to ${root}`,
);
