/**
 * An uploaded package as the members the package reader reads: the API's PUT body is the client's
 * multipart/form-data as it came (a field `spec`, the import request the API already judged, then
 * the package's files). Parsed with busboy as it arrives, one part at a time: a part is read to
 * its end before the next is parsed, so memory holds a chunk, never a file.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import {
  type PackageMember,
  type PackageReason,
  PackageRefused,
  listedMembers,
  ovaMembers,
} from '@dolly/ovf';

/** One file part of the upload, in the order it came. */
export interface UploadPart {
  /** The part's filename, as sent (paths kept, so the member checks see and refuse them). */
  name: string;
  content: Readable;
}

/** Bounds on what a request may hold besides the package's files. */
const LIMITS = {
  /** The `spec` field: the import request, which the API already bounds. */
  fieldSize: 1024 * 1024,
  fields: 4,
  fieldNameSize: 64,
  /** An OVA is one part; an OVF its descriptor, manifest, certificate and files. */
  files: 1000,
  headerPairs: 32,
};

/** The field the API sends first; the worker has the request already, in the job. */
const SPEC_FIELD = 'spec';

/** The request's body ended before its multipart end: the client went away, not a bad package. */
export class UploadCutOff extends Error {
  constructor(cause: unknown) {
    super('The upload was cut off before its end', { cause });
    this.name = 'UploadCutOff';
  }
}

/**
 * The file parts of a multipart request, as they come. A field other than `spec`, a part over the
 * limits, or a body that is not well-formed multipart refuse the package (every reason, when the
 * parts end); a body cut off throws UploadCutOff.
 */
export async function* uploadParts(request: IncomingMessage): AsyncGenerator<UploadPart> {
  const reasons: PackageReason[] = [];
  const queue: UploadPart[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: request.headers, preservePath: true, limits: LIMITS });
  } catch (error) {
    // No multipart Content-Type, or no boundary: nothing of the body can be read as parts.
    request.resume();
    throw new PackageRefused([
      {
        code: 'UPLOAD.NOT_MULTIPART',
        detail: `the upload is not multipart/form-data: ${message(error)}`,
      },
    ]);
  }
  parser.on('field', (name, _value, info) => {
    if (name !== SPEC_FIELD)
      reasons.push({
        code: 'UPLOAD.UNEXPECTED_FIELD',
        detail: `field ${name} is not part of an import`,
        at: name,
      });
    else if (info.valueTruncated)
      reasons.push({
        code: 'UPLOAD.FIELD_TOO_LARGE',
        detail: `field ${SPEC_FIELD} is over ${LIMITS.fieldSize} bytes`,
        at: name,
      });
  });
  parser.on('file', (_field, content, info) => {
    if (info.filename === undefined) {
      reasons.push({ code: 'UPLOAD.UNNAMED_PART', detail: 'a file part has no filename' });
      content.resume();
      return;
    }
    queue.push({ name: info.filename, content });
    notify();
  });
  const overLimit = (what: string) => () =>
    reasons.push({
      code: 'UPLOAD.TOO_MANY_PARTS',
      detail: `the upload holds more ${what} than an import takes`,
    });
  parser.on('filesLimit', overLimit('files'));
  parser.on('fieldsLimit', overLimit('fields'));
  parser.on('partsLimit', overLimit('parts'));
  parser.on('error', (error) => {
    failure = request.complete ? error : new UploadCutOff(error);
    ended = true;
    notify();
  });
  parser.on('close', () => {
    ended = true;
    notify();
  });
  request.on('aborted', () => {
    failure ??= new UploadCutOff(new Error('request aborted'));
    parser.destroy();
    ended = true;
    notify();
  });
  request.pipe(parser);
  try {
    for (;;) {
      const part = queue.shift();
      if (part) {
        yield part;
        // Whatever the reader left of the part is skipped, so the parser can go on to the next.
        if (!part.content.readableEnded) await drain(part.content);
        continue;
      }
      if (ended) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    if (failure instanceof UploadCutOff) throw failure;
    if (failure)
      reasons.push({
        code: 'UPLOAD.MALFORMED',
        detail: `the upload is not well-formed multipart: ${message(failure)}`,
      });
    if (reasons.length > 0) throw new PackageRefused(reasons);
  } finally {
    request.unpipe(parser);
    for (const left of queue.splice(0)) left.content.resume();
  }
}

/**
 * The package in an upload: one `.ova` part (an OVA, read as one stream), or an `.ovf` part first
 * and then its files by name. Anything else is refused. Every reason is said at once: the parts'
 * own (a stray field, a malformed body), the archive's or the names', and the upload's shape.
 */
export async function* uploadedMembers(
  parts: AsyncIterable<UploadPart>,
): AsyncGenerator<PackageMember> {
  const partReasons: PackageReason[] = [];
  const iterator = refusalsKept(parts, partReasons)[Symbol.asyncIterator]();
  const rest: AsyncIterable<UploadPart> = { [Symbol.asyncIterator]: () => iterator };
  const reasons: PackageReason[] = [];
  try {
    yield* packageIn(iterator, rest, reasons, partReasons);
  } catch (error) {
    if (!(error instanceof PackageRefused)) throw error;
    reasons.push(...error.reasons);
  }
  // What the reader left of the parts is read, so that their own reasons are said too.
  for await (const part of rest) {
    reasons.push({
      code: 'UPLOAD.PART_AFTER_OVA',
      detail: `${part.name} follows the OVA: an OVA is uploaded alone`,
      at: part.name,
    });
    part.content.resume();
  }
  if (reasons.length + partReasons.length > 0)
    throw new PackageRefused([...reasons, ...partReasons]);
}

async function* packageIn(
  iterator: AsyncIterator<UploadPart>,
  rest: AsyncIterable<UploadPart>,
  reasons: PackageReason[],
  partReasons: readonly PackageReason[],
): AsyncGenerator<PackageMember> {
  const first = await iterator.next();
  if (first.done) {
    // A body that could not be read as parts says so itself.
    if (partReasons.length === 0)
      reasons.push({ code: 'UPLOAD.NO_PACKAGE', detail: 'the upload holds no file' });
    return;
  }
  if (/\.ova$/i.test(first.value.name)) {
    yield* ovaMembers(first.value.content);
    return;
  }
  if (/\.ovf$/i.test(first.value.name)) {
    yield* listedMembers(
      (async function* () {
        yield first.value;
        yield* rest;
      })(),
    );
    return;
  }
  reasons.push({
    code: 'UPLOAD.UNKNOWN_PACKAGE',
    detail: `${first.value.name} is neither an .ova nor an .ovf: the package comes first`,
    at: first.value.name,
  });
  first.value.content.resume();
  for await (const part of rest) part.content.resume();
}

/** The parts, with the refusal they end with kept aside rather than thrown (said with the rest). */
async function* refusalsKept(
  parts: AsyncIterable<UploadPart>,
  kept: PackageReason[],
): AsyncGenerator<UploadPart> {
  try {
    yield* parts;
  } catch (error) {
    if (!(error instanceof PackageRefused)) throw error;
    kept.push(...error.reasons);
  }
}

function drain(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded || stream.destroyed) return resolve();
    stream
      .once('end', resolve)
      .once('close', resolve)
      .once('error', () => resolve());
    stream.resume();
  });
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
