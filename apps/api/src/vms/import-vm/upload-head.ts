import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { ValidationError } from '@dolly/domain';
import {
  MAX_DESCRIPTOR_BYTES,
  type PackageDescriptor,
  firstMemberDescriptor,
  readDescriptor,
} from './package-source';

/** The spec field: a JSON import target, small. */
export const MAX_SPEC_BYTES = 64 * 1024;
/**
 * Raw bytes the API may hold while it looks for the descriptor: the spec, the descriptor and the
 * multipart and tar headers around them, with room for the parser to lag a few chunks behind.
 */
export const MAX_HEAD_BYTES = MAX_SPEC_BYTES + MAX_DESCRIPTOR_BYTES + 1024 * 1024;

/** What an upload starts with, read before anything is decided, and the bytes it took to read it. */
export interface UploadHead {
  /** The spec field, parsed (validated by the caller). */
  spec: unknown;
  descriptor: PackageDescriptor;
  /**
   * The whole upload as it came, for the worker: the bytes read so far (held, bounded by
   * MAX_HEAD_BYTES) and then the rest of the request, read only as the worker takes it.
   */
  body: AsyncIterable<Buffer>;
}

const malformed = (detail: string, code = 'IMPORT.UPLOAD_MALFORMED') =>
  new ValidationError(code, `The upload cannot be read: ${detail}`, [{ code, detail }]);

/**
 * Reads the start of a multipart upload (busboy): the `spec` field first, then either an `.ova`
 * part, whose first tar member must be the descriptor, or an `.ovf` part; stops there. Nothing
 * is buffered past the descriptor: the rest of the request is left unread for the worker, and
 * every byte read is kept, so the worker receives the upload exactly as the client sent it.
 */
export async function readUploadHead(
  request: Readable | UploadSource,
  contentType: string,
): Promise<UploadHead> {
  const source = (request instanceof UploadSource ? request : new UploadSource(request)).chunks;
  const held: Buffer[] = [];
  let heldBytes = 0;
  const parser = busboy({
    headers: { 'content-type': contentType },
    limits: { fieldSize: MAX_SPEC_BYTES, fields: 1, fieldNameSize: 100 },
  });

  let spec: { value: unknown } | null = null;
  let settle!: { resolve: (d: PackageDescriptor) => void; reject: (e: unknown) => void };
  const found = new Promise<PackageDescriptor>((resolve, reject) => {
    settle = { resolve, reject };
  });
  let done = false;
  void found.then(
    () => (done = true),
    () => (done = true),
  );

  parser.on('field', (name, value, info) => {
    if (name !== 'spec' || spec !== null)
      return settle.reject(
        malformed(
          `unexpected field ${JSON.stringify(name.slice(0, 100))}: only spec, once, before the files`,
        ),
      );
    if (info.valueTruncated)
      return settle.reject(malformed(`the spec field exceeds ${MAX_SPEC_BYTES} bytes`));
    try {
      spec = { value: JSON.parse(value) as unknown };
    } catch (error) {
      settle.reject(
        malformed(
          `the spec field is not JSON: ${(error as Error).message}`,
          'REQUEST.MALFORMED_JSON',
        ),
      );
    }
  });
  parser.on('fieldsLimit', () => settle.reject(malformed('only one field, spec, is sent')));
  let sawFile = false;
  parser.on('file', (_name, file, info) => {
    if (sawFile || done) {
      // Only the first part matters here; the worker reads the rest.
      file.resume();
      return;
    }
    sawFile = true;
    const packageName = basename(info.filename ?? '');
    if (spec === null) {
      file.resume();
      return settle.reject(
        malformed('the spec field must come before the package', 'IMPORT.SPEC_NOT_FIRST'),
      );
    }
    const lower = packageName.toLowerCase();
    const reading = lower.endsWith('.ova')
      ? firstMemberDescriptor(file, packageName)
      : lower.endsWith('.ovf')
        ? readDescriptor(packageName, packageName, file)
        : Promise.reject(
            malformed(
              `the first file is ${JSON.stringify(packageName.slice(0, 255))}: send an .ova, or the .ovf before its files`,
              'IMPORT.NOT_A_PACKAGE',
            ),
          );
    reading.then(settle.resolve, settle.reject);
  });
  parser.on('error', (error: Error) => settle.reject(malformed(error.message)));

  const feeding = (async () => {
    while (!done) {
      const next = await source.next();
      if (done) {
        // Read after the descriptor was found: the worker gets it with the rest.
        if (!next.done) held.push(next.value);
        return;
      }
      if (next.done) {
        parser.end();
        // Let the parser say what it found in the last bytes before calling the upload short.
        await new Promise((resolve) => setImmediate(resolve));
        settle.reject(
          malformed('the upload ends before its package’s descriptor', 'IMPORT.NO_PACKAGE'),
        );
        return;
      }
      held.push(next.value);
      heldBytes += next.value.length;
      if (heldBytes > MAX_HEAD_BYTES)
        return settle.reject(
          malformed(
            `no descriptor of at most ${MAX_DESCRIPTOR_BYTES} bytes in the first ${MAX_HEAD_BYTES} bytes`,
            'OVF.DESCRIPTOR_TOO_LARGE',
          ),
        );
      // A parser that stopped taking bytes because the descriptor was read never drains.
      if (!parser.write(next.value))
        await Promise.race([
          new Promise((resolve) => parser.once('drain', resolve)),
          found.catch(() => undefined),
        ]);
      // One turn for the parsers to take what was just written before reading more.
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  feeding.catch((error: unknown) => settle.reject(error));

  try {
    const descriptor = await found;
    await feeding;
    return { spec: spec!.value, descriptor, body: rawBody(held, source) };
  } finally {
    parser.removeAllListeners('file');
    parser.on('error', () => undefined);
  }
}

/**
 * The request's bytes, read once, in order, by whoever asks next: the head, then the worker, or
 * the platform's discardRest after an early answer.
 */
export class UploadSource {
  readonly chunks: AsyncIterator<Buffer>;

  constructor(request: Readable) {
    this.chunks = request[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }
}

async function* rawBody(held: Buffer[], source: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  while (held.length > 0) yield held.shift()!;
  for (;;) {
    const next = await source.next();
    if (next.done) return;
    yield next.value;
  }
}
