import { createHash } from 'node:crypto';
import { EVENT_CATALOG } from './event-catalog';
import { eventSchemaDocument } from './asyncapi';

/**
 * The lock of published event schemas: one digest per type and version. Once a version is in the
 * lock its schema may never change; a test holds every catalogued schema to its digest.
 */
export interface PublishedLock {
  [typeAndVersion: string]: string;
}

export function schemaDigest(schema: unknown): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(schema)).digest('hex')}`;
}

export function catalogSchemas(): {
  key: string;
  type: string;
  version: number;
  document: Record<string, unknown>;
}[] {
  return EVENT_CATALOG.flatMap((entry) =>
    entry.versions.map((v) => ({
      key: `${entry.type}.v${v.version}`,
      type: entry.type,
      version: v.version,
      document: eventSchemaDocument(entry.type, v.version)!,
    })),
  );
}
