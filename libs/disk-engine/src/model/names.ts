/**
 * Ids become file names and NBD export names, so they are checked before anything touches the
 * datastore: no path separators, no `..`, no leading dot (our temporary and hidden names), no
 * characters a shell or a URI would read differently.
 */
import { DiskEngineError } from '../errors';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export type IdKind = 'datastore' | 'disk' | 'layer' | 'operation';

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id) && !id.includes('..');
}

export function assertValidId(kind: IdKind, id: unknown): asserts id is string {
  if (!isValidId(id)) {
    throw new DiskEngineError('DISK.BAD_NAME', `bad ${kind} id ${JSON.stringify(id)}`, {
      kind,
      id,
    });
  }
}

/** Every layer is a qcow2 file named after its id, so the name alone says what it must be. */
export function layerFileName(layerId: string): string {
  return `${layerId}.qcow2`;
}

/** Names under construction: hidden, tied to their operation, never mistaken for a layer. */
export function temporaryFileName(fileName: string, operationId: string): string {
  return `.${fileName}.${operationId}.tmp`;
}

export function isTemporaryFileName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

/**
 * Temporary files an engine keeps on purpose beyond any one operation (spare overlays, overlay
 * templates being made): named after the engine (owners.ts), so that other engines sharing the
 * datastore leave them alone while it lives, and may remove them once it is gone.
 */
export function ownedTemporaryFileName(name: string, ownerId: string): string {
  return `.${name}.${ownerId}.tmp`;
}

const OWNED = /^\..*\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.tmp$/;

/** The engine named in a temporary file's name, or undefined. */
export function temporaryOwner(name: string): string | undefined {
  return OWNED.exec(name)?.[1];
}
