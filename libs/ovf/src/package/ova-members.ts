import { extract as tarExtract, type Extract } from 'tar-stream';
import { PackageRefused, type PackageReason } from '../model';
import {
  DEFAULT_MEMBER_LIMITS,
  MemberNameChecks,
  type MemberLimits,
  type PackageMember,
} from './member';
import { MemberContent } from './member-content';
import { UstarFormatCheck } from './ustar-format';

/** The marker of an error of the input itself (a dropped upload), which is no refusal. */
class InputFailed {
  constructor(readonly error: unknown) {}
}

export interface OvaMembersOptions {
  limits?: MemberLimits;
  /**
   * Told the reasons of each member refused (not yielded), when it is passed: a reader that stops
   * early, as one that reads only the head, can still say why the members it saw were skipped.
   */
  onRefusedMember?(reasons: readonly PackageReason[]): void;
}

/**
 * The members of an OVA (a USTAR archive), read once from start to end. Every member that is not
 * a flat, regular, unique file is a reason; the reasons refuse the package when the archive ends
 * (a `PackageRefused` from the iteration), or at once when the archive cannot be read further
 * (corrupt header, truncated). An error of the input itself is thrown as it is.
 */
export async function* ovaMembers(
  tar: AsyncIterable<Buffer> | NodeJS.ReadableStream,
  options: OvaMembersOptions = {},
): AsyncGenerator<PackageMember, void, undefined> {
  const extract = tarExtract();
  const format = new UstarFormatCheck();
  const names = new MemberNameChecks(options.limits ?? DEFAULT_MEMBER_LIMITS);
  let inputFailure: InputFailed | null = null;
  const pumping = pump(tar as AsyncIterable<Buffer>, extract, format).catch((error: unknown) => {
    inputFailure = new InputFailed(error);
    extract.destroy(error instanceof Error ? error : new Error(String(error)));
  });
  const refusal = (reason: PackageReason): PackageRefused =>
    new PackageRefused([...format.reasons, ...names.reasons, reason]);
  // tar-stream's errors are plain Errors: they become reasons, unless the input failed.
  const asReason = (error: unknown, at?: string): unknown => {
    const failure = inputFailure as InputFailed | null;
    if (failure) return failure.error;
    if (error instanceof PackageRefused) return error;
    const message = error instanceof Error ? error.message : String(error);
    if (/unexpected end of data/i.test(message))
      return refusal({
        code: 'OVA.TRUNCATED',
        detail: `the archive ends inside ${at ? `member ${at}` : 'a header'}`,
        at,
      });
    return refusal({ code: 'OVA.CORRUPT', detail: `the archive cannot be read: ${message}`, at });
  };

  let current: string | undefined;
  try {
    for await (const entry of extract) {
      const header = entry.header;
      current = header.name;
      const reasonsBefore = names.reasons.length;
      let admitted = names.admit(header.name);
      if (header.type !== 'file') {
        admitted = false;
        const link = header.linkname ? ` to ${JSON.stringify(header.linkname)}` : '';
        names.reasons.push({
          code: 'OVA.NOT_REGULAR_FILE',
          detail: `member ${JSON.stringify(header.name)} is a ${header.type ?? 'member of unknown type'}${link}; an OVA holds regular files only`,
          at: header.name,
        });
      }
      const content = new MemberContent(
        checkedSize(entry as AsyncIterable<Buffer>, header.size, header.name, asReason),
      );
      if (admitted) yield { name: header.name, sizeBytes: header.size, content };
      else options.onRefusedMember?.(names.reasons.slice(reasonsBefore));
      await content.drain();
      current = undefined;
    }
  } catch (error: unknown) {
    throw asReason(error, current);
  } finally {
    extract.destroy();
    void pumping;
  }
  await pumping;
  const failure = inputFailure as InputFailed | null;
  if (failure) throw failure.error;
  format.end();
  if (format.reasons.length + names.reasons.length > 0)
    throw new PackageRefused([...format.reasons, ...names.reasons]);
}

/** A member's bytes, tar-stream's failures turned into reasons as the consumer reads them. */
async function* checkedSize(
  entry: AsyncIterable<Buffer>,
  declaredBytes: number,
  name: string,
  asReason: (error: unknown, at?: string) => unknown,
): AsyncGenerator<Buffer> {
  let bytes = 0;
  try {
    for await (const chunk of entry) {
      bytes += chunk.length;
      yield chunk;
    }
  } catch (error: unknown) {
    throw asReason(error, name);
  }
  // tar-stream ends an entry only once its declared size is read; this guards that promise.
  if (bytes !== declaredBytes)
    throw asReason(new Error(`Unexpected end of data: ${bytes} of ${declaredBytes} bytes`), name);
}

async function pump(
  input: AsyncIterable<Buffer>,
  extract: Extract,
  format: UstarFormatCheck,
): Promise<void> {
  for await (const chunk of input) {
    if (extract.destroyed) return;
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    format.inspect(bytes);
    if (!extract.write(bytes)) await writable(extract);
  }
  if (!extract.destroyed) extract.end(null);
}

function writable(extract: Extract): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      extract.off('drain', done);
      extract.off('close', done);
      resolve();
    };
    extract.on('drain', done);
    extract.on('close', done);
  });
}
