import { type LiveExport } from '@dolly/domain';
import { type Principal, PERMISSIONS, isAllowed } from '@dolly/platform';
import { type Static, Type } from '@sinclair/typebox';

/**
 * A running VM's disks and memory image are open in a worker's storage daemon and exported over
 * NBD: whoever has an export's URI (and can reach it) reads and writes that disk. So the URIs,
 * which hold the socket path or the NBD server's address, are shown only to the roles that may
 * attach disks; every other reader sees that the VM is live, where, and which images are
 * exported. Events keep the URIs as recorded (Kafka consumers are trusted infrastructure): the
 * representations drop them.
 */

/** Who reads: what a representation shows depends on the role. */
export type Reader = Pick<Principal, 'role'>;

export const mayAttachDisks = (reader: Reader) => isAllowed(reader.role, 'disks:attach');

const URI_READERS = PERMISSIONS['disks:attach'].join(', ');

export const LiveExportView = Type.Object(
  {
    imageId: Type.String({ minLength: 1, description: 'The disk (or memory image) exported.' }),
    uri: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "NBD URI: nbd+unix:///<name>?socket=<path> (the worker's owner-only Unix socket), or " +
          'nbds://<host>:<port>/<name> (TCP with TLS; the client needs the CA, and a client ' +
          `certificate when the worker verifies peers). Present only for roles that may attach disks (disks:attach: ${URI_READERS}).`,
      }),
    ),
    writable: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type LiveExportView = Static<typeof LiveExportView>;

export function liveExportView(exported: LiveExport, reader: Reader): LiveExportView {
  const { imageId, uri, writable } = exported;
  return mayAttachDisks(reader) ? { imageId, uri, writable } : { imageId, writable };
}

const NBD_URI = /^nbds?(\+[a-z]+)?:/i;

/** A `uri` that names an NBD export, wherever it is nested: a live export as recorded. */
function withoutNbdUris(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNbdUris);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(
        ([key, field]) => !(key === 'uri' && typeof field === 'string' && NBD_URI.test(field)),
      )
      .map(([key, field]) => [key, withoutNbdUris(field)]),
  );
}

/**
 * Recorded event data as the reader may see it: for roles that may not attach disks, every live
 * export loses its URI (VmPoweredOn, VmForked, VmRefreshed, ... and any later event or version
 * that carries one: they are found by what they hold, not by event type).
 */
export function eventDataView(data: unknown, reader: Reader): unknown {
  return mayAttachDisks(reader) ? data : withoutNbdUris(data);
}
