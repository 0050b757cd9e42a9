import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from '@asyncapi/parser';
import { DEFAULT_KAFKA_BROKERS } from '@dolly/config';
import { asyncApiDocument } from './asyncapi';
import { EVENT_CATALOG } from './event-catalog';
import { type PublishedLock, catalogSchemas, schemaDigest } from './published';

const published = join(__dirname, '..', 'published');
const read = (file: string) =>
  JSON.parse(readFileSync(join(published, file), 'utf8')) as Record<string, unknown>;
const lock = read('published.lock.json') as PublishedLock;

describe('published event schemas', () => {
  it.each(catalogSchemas().map((s) => [s.key, s]))(
    '%s is locked and unchanged since it was published',
    (_key, schema) => {
      // A failure here means a published schema changed: add a new version with an upcaster instead.
      expect(lock[schema.key]).toBe(schemaDigest(schema.document));
      expect(read(`events/${schema.key}.schema.json`)).toEqual(schema.document);
    },
  );

  it('has no version in the lock that the catalog forgot', () => {
    expect(Object.keys(lock).sort()).toEqual(
      catalogSchemas()
        .map((s) => s.key)
        .sort(),
    );
  });

  it('numbers versions 1, 2, 3... with an upcaster from each to the next', () => {
    for (const entry of EVENT_CATALOG) {
      entry.versions.forEach((v, index) => {
        expect(v.version).toBe(index + 1);
        expect(Boolean(v.upcastFromPrevious)).toBe(index > 0);
      });
    }
  });
});

describe('the AsyncAPI document', () => {
  const version = (
    JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const document = asyncApiDocument({ version, brokers: [DEFAULT_KAFKA_BROKERS] });

  it('is committed as generated (npm run contracts:publish)', () => {
    expect(read('asyncapi.json')).toEqual(JSON.parse(JSON.stringify(document)));
  });

  it('is valid AsyncAPI 3.0 by the reference parser', async () => {
    const diagnostics = await new Parser().validate(JSON.parse(JSON.stringify(document)));
    expect(diagnostics.filter((d) => d.severity === 0)).toEqual([]);
  });
});
