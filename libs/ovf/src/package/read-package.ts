import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { untilAborted } from '@dolly/domain';
import {
  PackageRefused,
  type OvfEnvelope,
  type OvfFileReference,
  type PackageReason,
  type ParsedDescriptor,
} from '../model';
import { verifyCertificate, type CertificatePolicy, type VerifiedSigner } from './certificate';
import { chunkMemberName } from './chunks';
import { MAX_DESCRIPTOR_BYTES } from './folder-members';
import { HASH_NAMES, parseManifest, type DigestAlgorithm, type ManifestEntry } from './manifest';
import { memberNameReasons, type PackageMember } from './member';
import { transientBytesPassed } from '../young-garbage';

export interface PackageLimits {
  maxDescriptorBytes: number;
  maxManifestBytes: number;
  maxCertificateBytes: number;
  /** Bytes delivered (inflated when gzip) for a file that no disk uses (an ISO, NVRAM). */
  maxFileBytesWithoutDisk: number;
}

export const DEFAULT_PACKAGE_LIMITS: PackageLimits = {
  maxDescriptorBytes: MAX_DESCRIPTOR_BYTES,
  maxManifestBytes: 1024 * 1024,
  maxCertificateBytes: 256 * 1024,
  maxFileBytesWithoutDisk: 8 * 1024 ** 3,
};

/** Where a referenced file's content goes; it may stop reading early, the reader drains the rest. */
export type FileWriter = (content: AsyncIterable<Buffer>) => Promise<void>;

export interface PackageHandlers {
  /** The descriptor parser (libs/ovf's parseDescriptor). */
  describe(xml: Buffer): ParsedDescriptor;
  /** Compatibility checks of the caller (host, datastore); may throw PackageRefused. */
  accept?(envelope: OvfEnvelope): Promise<void>;
  /** Called only while nothing is wrong with the package so far; a PackageRefused from the writer is a reason. */
  openFile(file: OvfFileReference): Promise<FileWriter>;
  certificatePolicy: CertificatePolicy;
  signal?: AbortSignal;
  onProgress?(bytesRead: number, totalBytes: number | null): void;
  limits?: Partial<PackageLimits>;
}

export interface MemberDigest {
  algorithm: DigestAlgorithm;
  /** Lower-case hex. */
  hex: string;
}

export interface ReadFile {
  href: string;
  /** Bytes as stored (compressed, all chunks together). */
  sizeBytes: number;
  /** Of the stored bytes: the manifest's algorithm (SHA256 without one); SHA256 over all chunks of a chunked file. */
  digest: MemberDigest;
}

export interface PackageSummary {
  descriptorName: string;
  descriptorSha256: string;
  envelope: OvfEnvelope;
  manifest: { name: string; sha256: string } | null;
  certificate: VerifiedSigner | null;
  /** Bytes of every member, as stored. */
  bytesRead: number;
  files: ReadFile[];
}

const PROGRESS_STEP_BYTES = 1024 * 1024;
/** Grain tables, markers and headers a sparse image adds to its capacity, at worst. */
const diskImageBound = (capacityBytes: number): number =>
  capacityBytes + Math.ceil(capacityBytes / 64) + 16 * 1024 * 1024;

/** The reader's own refusal, thrown into a writer's content; the writer's failure is then not the writer's. */
class ReaderStop extends Error {
  constructor(readonly reason: PackageReason) {
    super(reason.detail);
  }
}

/**
 * Reads a package once, in order: the descriptor first, the manifest and certificate right after
 * it or at the end, every referenced file given to its writer as it passes (inflated when gzip,
 * its chunks joined), every member's digest computed over its stored bytes. Every reason found
 * is collected; if any, PackageRefused with all of them, after the last member: a writer may
 * have seen bytes of a package that is then refused (the caller removes what it wrote), but a
 * refused package never reads as a success. Writers are called only while no reason is known.
 * An abort of the signal stops reading at once and throws the signal's reason.
 */
export async function readPackage(
  members: AsyncIterable<PackageMember>,
  handlers: PackageHandlers,
): Promise<PackageSummary> {
  const reader = new PackageReader(members, handlers);
  try {
    return await reader.read();
  } finally {
    reader.close();
  }
}

type MemberRole =
  | { kind: 'manifest' }
  | { kind: 'certificate' }
  | { kind: 'file'; file: OvfFileReference; chunkIndex: number | null }
  | { kind: 'unexpected'; detail: string; code: string };

class PackageReader {
  private readonly reasons: PackageReason[] = [];
  private readonly limits: PackageLimits;
  private readonly iterator: AsyncIterator<PackageMember>;
  private pushedBack: PackageMember | null = null;

  private envelope: OvfEnvelope | null = null;
  private manifest: { name: string; bytes: Buffer; entries: Map<string, ManifestEntry> } | null =
    null;
  private certificate: { name: string; text: string } | null = null;
  /** Stored digests of every member read, by name. */
  private readonly digests = new Map<string, MemberDigest>();
  private readonly files = new Map<string, ReadFile>();
  private filesStarted = false;
  private trailerStarted = false;
  /** What the source failed with (a PackageRefused of archive reasons, or an input error). */
  private sourceFailure: { error: unknown; midMember: boolean } | null = null;

  private bytesRead = 0;
  private bytesReported = 0;
  private totalBytes: number | null = null;

  constructor(
    members: AsyncIterable<PackageMember>,
    private readonly handlers: PackageHandlers,
  ) {
    this.limits = { ...DEFAULT_PACKAGE_LIMITS, ...handlers.limits };
    this.iterator = members[Symbol.asyncIterator]();
  }

  async read(): Promise<PackageSummary> {
    const first = await this.nextMember();
    if (first === null && !this.sourceFailure)
      this.reasons.push({ code: 'PACKAGE.EMPTY', detail: 'the package holds no member' });
    const descriptor = first ? await this.readDescriptor(first) : null;
    for (let member = await this.nextMember(); member !== null; member = await this.nextMember()) {
      await this.readMember(member);
      if (this.sourceFailure?.midMember) break;
    }
    if (this.sourceFailure && !(this.sourceFailure.error instanceof PackageRefused))
      throw this.sourceFailure.error;
    if (!this.sourceFailure?.midMember) this.checkEnd(descriptor);
    this.reportProgress(true);
    if (this.sourceFailure || this.reasons.length > 0 || !descriptor || !this.envelope)
      this.refuseWithSource([]);
    return {
      descriptorName: descriptor.name,
      descriptorSha256: createHash('sha256').update(descriptor.bytes).digest('hex'),
      envelope: this.envelope,
      manifest: this.manifest && {
        name: this.manifest.name,
        sha256: createHash('sha256').update(this.manifest.bytes).digest('hex'),
      },
      certificate: this.verifiedCertificate,
      bytesRead: this.bytesRead,
      files: [...this.files.values()],
    };
  }

  /** Stops the source without waiting: after an abort it may be stuck on input that never comes. */
  close(): void {
    void Promise.resolve(this.iterator.return?.()).catch(() => undefined);
  }

  private refuseWithSource(extra: PackageReason[]): never {
    const sourceReasons =
      this.sourceFailure?.error instanceof PackageRefused ? this.sourceFailure.error.reasons : [];
    throw new PackageRefused([...sourceReasons, ...this.reasons, ...extra]);
  }

  // -- members ---------------------------------------------------------------------------------

  private async nextMember(): Promise<PackageMember | null> {
    if (this.pushedBack) {
      const member = this.pushedBack;
      this.pushedBack = null;
      return member;
    }
    if (this.sourceFailure) return null;
    try {
      const result = await this.race(this.iterator.next());
      return result.done ? null : result.value;
    } catch (error: unknown) {
      this.rethrowIfAborted();
      this.sourceFailure = { error, midMember: false };
      return null;
    }
  }

  /** Next bytes of a member; null at its end or when the source failed (recorded). */
  private async nextBytes(content: AsyncIterator<Buffer>): Promise<Buffer | null> {
    if (this.sourceFailure) return null;
    try {
      const result = await this.race(content.next());
      if (result.done) return null;
      this.bytesRead += result.value.length;
      transientBytesPassed(result.value.length);
      this.reportProgress(false);
      return result.value;
    } catch (error: unknown) {
      this.rethrowIfAborted();
      this.sourceFailure = { error, midMember: true };
      return null;
    }
  }

  private race<T>(promise: Promise<T>): Promise<T> {
    this.rethrowIfAborted();
    return untilAborted(promise, this.handlers.signal);
  }

  private rethrowIfAborted(): void {
    this.handlers.signal?.throwIfAborted();
  }

  private reportProgress(force: boolean): void {
    if (!this.handlers.onProgress) return;
    if (!force && this.bytesRead - this.bytesReported < PROGRESS_STEP_BYTES) return;
    this.bytesReported = this.bytesRead;
    this.handlers.onProgress(this.bytesRead, this.totalBytes);
  }

  /** A member small enough to hold (descriptor, manifest, certificate), hashed; null when over the bound. */
  private async readSmall(
    member: PackageMember,
    maxBytes: number,
    what: string,
    code: string,
  ): Promise<Buffer | null> {
    const content = member.content[Symbol.asyncIterator]();
    const parts: Buffer[] = [];
    let bytes = 0;
    for (
      let chunk = await this.nextBytes(content);
      chunk !== null;
      chunk = await this.nextBytes(content)
    ) {
      bytes += chunk.length;
      if (bytes <= maxBytes) parts.push(chunk);
    }
    if (this.sourceFailure?.midMember) return null;
    if (bytes > maxBytes) {
      this.reasons.push({
        code,
        detail: `${what} ${member.name} is ${bytes} bytes, at most ${maxBytes}`,
        at: member.name,
      });
      return null;
    }
    const whole = Buffer.concat(parts);
    this.totalBytes = this.totalBytes === null ? null : this.totalBytes + whole.length;
    return whole;
  }

  // -- descriptor ------------------------------------------------------------------------------

  private async readDescriptor(
    first: PackageMember,
  ): Promise<{ name: string; bytes: Buffer } | null> {
    if (!/\.ovf$/i.test(first.name)) {
      this.reasons.push({
        code: 'PACKAGE.DESCRIPTOR_NOT_FIRST',
        detail: `the first member is ${JSON.stringify(first.name)}; a package starts with its .ovf descriptor`,
        at: first.name,
      });
      await this.readMember(first);
      return null;
    }
    const bytes = await this.readSmall(
      first,
      this.limits.maxDescriptorBytes,
      'descriptor',
      'OVF.DESCRIPTOR_TOO_LARGE',
    );
    if (bytes === null) return null;
    this.digests.set(first.name, digestOf(bytes, 'SHA256'));
    const parsed = this.handlers.describe(bytes);
    if (!parsed.ok) {
      this.reasons.push(...parsed.reasons);
      return { name: first.name, bytes };
    }
    const referenceReasons = referencesReasons(parsed.envelope);
    this.reasons.push(...referenceReasons);
    if (referenceReasons.length === 0) this.envelope = parsed.envelope;
    if (this.envelope && this.handlers.accept) {
      try {
        await this.handlers.accept(this.envelope);
      } catch (error: unknown) {
        if (!(error instanceof PackageRefused)) throw error;
        this.reasons.push(...error.reasons);
      }
    }
    const declared = parsed.envelope.references.map((file) => file.sizeBytes);
    this.totalBytes = declared.every((size): size is number => size !== null)
      ? bytes.length + declared.reduce((sum, size) => sum + size, 0)
      : null;
    return { name: first.name, bytes };
  }

  // -- each member -----------------------------------------------------------------------------

  private roleOf(name: string): MemberRole {
    if (/\.mf$/i.test(name)) return { kind: 'manifest' };
    if (/\.cert$/i.test(name)) return { kind: 'certificate' };
    const references = this.envelope?.references ?? [];
    const whole = references.find((file) => file.chunkSizeBytes === null && file.href === name);
    if (whole) return { kind: 'file', file: whole, chunkIndex: null };
    const chunk = /^(.*)\.(\d{9})$/.exec(name);
    const chunked =
      chunk && references.find((file) => file.chunkSizeBytes !== null && file.href === chunk[1]);
    if (chunk && chunked) {
      const index = Number(chunk[2]);
      if (index === 0 && !this.files.has(chunked.href))
        return { kind: 'file', file: chunked, chunkIndex: 0 };
      return {
        kind: 'unexpected',
        code: 'FILE.CHUNK_OUT_OF_ORDER',
        detail: `chunk ${name} does not follow chunk ${index - 1} of ${chunked.href}`,
      };
    }
    return {
      kind: 'unexpected',
      code: 'PACKAGE.UNEXPECTED_MEMBER',
      detail: `member ${JSON.stringify(name)} is neither a file of the References, nor the manifest, nor the certificate`,
    };
  }

  private async readMember(member: PackageMember): Promise<void> {
    // Without a descriptor that passed, members are only hashed for the manifest's sake.
    const role: MemberRole =
      this.envelope || /\.(mf|cert)$/i.test(member.name)
        ? this.roleOf(member.name)
        : { kind: 'unexpected', code: '', detail: '' };
    if (role.kind === 'manifest' || role.kind === 'certificate') {
      if (this.filesStarted) this.trailerStarted = true;
      return role.kind === 'manifest' ? this.readManifest(member) : this.readCertificate(member);
    }
    if (this.trailerStarted)
      this.reasons.push({
        code: 'PACKAGE.MEMBER_ORDER',
        detail: `member ${JSON.stringify(member.name)} follows the manifest or certificate; they come right after the descriptor or last`,
        at: member.name,
      });
    this.filesStarted = true;
    if (role.kind === 'file') return this.readFile(role.file, member);
    if (role.code) this.reasons.push({ code: role.code, detail: role.detail, at: member.name });
    await this.hashMember(member);
  }

  private async hashMember(member: PackageMember): Promise<number> {
    const hash = new MemberHash(this.algorithmFor(member.name));
    const content = member.content[Symbol.asyncIterator]();
    for (
      let chunk = await this.nextBytes(content);
      chunk !== null;
      chunk = await this.nextBytes(content)
    )
      hash.update(chunk);
    if (!this.sourceFailure?.midMember) this.digests.set(member.name, hash.digest());
    return hash.bytes;
  }

  private algorithmFor(name: string): DigestAlgorithm {
    return this.manifest?.entries.get(name)?.algorithm ?? 'SHA256';
  }

  private async readManifest(member: PackageMember): Promise<void> {
    const bytes = await this.readSmall(
      member,
      this.limits.maxManifestBytes,
      'manifest',
      'MANIFEST.TOO_LARGE',
    );
    if (bytes === null) return;
    if (this.manifest) {
      this.reasons.push({
        code: 'MANIFEST.DUPLICATE',
        detail: `a second manifest ${member.name} (the first is ${this.manifest.name})`,
        at: member.name,
      });
      return;
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      this.reasons.push({
        code: 'MANIFEST.NOT_UTF8',
        detail: `manifest ${member.name} is not UTF-8 text`,
        at: member.name,
      });
      return;
    }
    const parsed = parseManifest(text);
    this.reasons.push(
      ...parsed.reasons.map((reason) => ({
        ...reason,
        at: `${member.name} ${reason.at ?? ''}`.trim(),
      })),
    );
    this.manifest = {
      name: member.name,
      bytes,
      entries: new Map(parsed.entries.map((entry) => [entry.name, entry])),
    };
  }

  private async readCertificate(member: PackageMember): Promise<void> {
    const bytes = await this.readSmall(
      member,
      this.limits.maxCertificateBytes,
      'certificate',
      'CERTIFICATE.TOO_LARGE',
    );
    if (bytes === null) return;
    if (this.certificate) {
      this.reasons.push({
        code: 'CERTIFICATE.DUPLICATE',
        detail: `a second certificate ${member.name}`,
        at: member.name,
      });
      return;
    }
    this.certificate = { name: member.name, text: bytes.toString('utf8') };
  }

  // -- referenced files ------------------------------------------------------------------------

  private async readFile(file: OvfFileReference, first: PackageMember): Promise<void> {
    const stored = new StoredFile(this, file, first);
    const stopped = new Set<string>();
    if (this.reasons.length === 0 && this.envelope) {
      const stops: PackageReason[] = [];
      try {
        const writer = await this.handlers.openFile(file);
        await writer(this.delivered(stored, file, stops));
      } catch (error: unknown) {
        this.rethrowIfAborted();
        // Our own stop, or the source's failure, reached the writer: not the writer's fault.
        if (stops.length === 0 && !this.sourceFailure) {
          if (!(error instanceof PackageRefused)) throw error;
          this.reasons.push(...error.reasons);
        }
      }
      this.reasons.push(...stops);
      stops.forEach((stop) => stopped.add(stop.code));
    }
    await stored.drain();
    this.rethrowIfAborted();
    if (this.sourceFailure?.midMember) return;
    this.files.set(file.href, {
      href: file.href,
      sizeBytes: stored.storedBytes,
      digest: stored.fileDigest(),
    });
    // A size the writer was already stopped for is said once.
    this.reasons.push(...stored.sizeReasons().filter((reason) => !stopped.has(reason.code)));
  }

  /** The bytes a writer reads: stored, or inflated; bounded; stopped at the first sign of a lie. */
  private delivered(
    stored: StoredFile,
    file: OvfFileReference,
    stops: PackageReason[],
  ): AsyncIterable<Buffer> {
    const stop = (reason: PackageReason): ReaderStop => {
      stops.push(reason);
      return new ReaderStop(reason);
    };
    const bound = this.deliveredBound(file);
    const storedBytes = async function* (): AsyncGenerator<Buffer> {
      for (let chunk = await stored.next(); chunk !== null; chunk = await stored.next()) {
        if (file.sizeBytes !== null && stored.storedBytes > file.sizeBytes)
          throw stop({
            code: 'FILE.SIZE_MISMATCH',
            detail: `${file.href} is longer than its declared ${file.sizeBytes} bytes`,
            at: file.href,
          });
        yield chunk;
      }
      // The source's own reasons say why; the writer only has to stop.
      if (stored.failed())
        throw new ReaderStop({ code: 'PACKAGE.UNREADABLE', detail: `reading ${file.href} failed` });
    };
    const source = file.compression === 'gzip' ? gunzip(storedBytes(), file, stop) : storedBytes();
    return (async function* bounded(): AsyncGenerator<Buffer> {
      let bytes = 0;
      for await (const chunk of source) {
        bytes += chunk.length;
        if (bytes > bound)
          throw stop({
            code: 'FILE.TOO_LARGE',
            detail: `${file.href} ${file.compression === 'gzip' ? 'inflates to' : 'holds'} more than ${bound} bytes, more than its disk can hold`,
            at: file.href,
          });
        yield chunk;
      }
    })();
  }

  private deliveredBound(file: OvfFileReference): number {
    const capacities = (this.envelope?.disks ?? [])
      .filter((disk) => disk.fileRef === file.id)
      .map((disk) => disk.capacityBytes);
    return capacities.length > 0
      ? diskImageBound(Math.max(...capacities))
      : this.limits.maxFileBytesWithoutDisk;
  }

  /** The chunk that follows, taken from the source; any other member is put back. */
  async nextChunk(file: OvfFileReference, index: number): Promise<PackageMember | null> {
    const member = await this.nextMember();
    if (member === null) return null;
    if (member.name === chunkMemberName(file.href, index)) return member;
    this.pushedBack = member;
    return null;
  }

  readBytes(content: AsyncIterator<Buffer>): Promise<Buffer | null> {
    return this.nextBytes(content);
  }

  memberAlgorithm(name: string): DigestAlgorithm {
    return this.algorithmFor(name);
  }

  recordDigest(name: string, digest: MemberDigest): void {
    this.digests.set(name, digest);
  }

  sourceFailedMidMember(): boolean {
    return this.sourceFailure?.midMember === true;
  }

  // -- the end ---------------------------------------------------------------------------------

  private verifiedCertificate: VerifiedSigner | null = null;

  private checkEnd(descriptor: { name: string; bytes: Buffer } | null): void {
    for (const file of this.envelope?.references ?? [])
      if (!this.files.has(file.href))
        this.reasons.push({
          code: 'FILE.MISSING',
          detail: `${file.href} (file ${file.id} of the References) is not in the package`,
          at: file.href,
        });
    if (this.manifest) this.checkManifest(this.manifest, descriptor);
    const policy = this.handlers.certificatePolicy;
    if (this.certificate) {
      if (!this.manifest) {
        this.reasons.push({
          code: 'CERTIFICATE.WITHOUT_MANIFEST',
          detail: 'the package has a certificate but no manifest for it to sign',
          at: this.certificate.name,
        });
      } else {
        const checked = verifyCertificate(
          this.certificate.text,
          this.manifest.name,
          this.manifest.bytes,
          policy,
        );
        if (checked.ok) this.verifiedCertificate = checked.signer;
        else
          this.reasons.push(
            ...checked.reasons.map((reason) => ({ ...reason, at: this.certificate?.name })),
          );
      }
    } else if (policy.requireCertificate) {
      this.reasons.push({
        code: 'CERTIFICATE.MISSING',
        detail: 'the import requires a signed package; this one has no certificate',
      });
    }
  }

  private checkManifest(
    manifest: NonNullable<PackageReader['manifest']>,
    descriptor: { name: string; bytes: Buffer } | null,
  ): void {
    for (const [name, computed] of this.digests) {
      const entry = manifest.entries.get(name);
      if (!entry) {
        this.reasons.push({
          code: 'MANIFEST.MEMBER_NOT_LISTED',
          detail: `${name} is not in the manifest ${manifest.name}`,
          at: name,
        });
        continue;
      }
      // The descriptor is held whole: any algorithm can be computed for it afterwards.
      const digest =
        descriptor && name === descriptor.name && computed.algorithm !== entry.algorithm
          ? digestOf(descriptor.bytes, entry.algorithm)
          : computed;
      if (digest.algorithm !== entry.algorithm)
        this.reasons.push({
          code: 'MANIFEST.UNVERIFIABLE_DIGEST',
          detail: `the manifest came after ${name} and names ${entry.algorithm} for it; a package read as a stream is checked when its manifest precedes the files or uses SHA256`,
          at: name,
        });
      else if (digest.hex !== entry.hex)
        this.reasons.push({
          code: 'MANIFEST.DIGEST_MISMATCH',
          detail: `${name}: ${entry.algorithm} ${digest.hex}, the manifest says ${entry.hex}`,
          at: name,
        });
    }
    for (const name of manifest.entries.keys())
      if (!this.digests.has(name))
        this.reasons.push({
          code: 'MANIFEST.LISTS_MISSING_MEMBER',
          detail: `the manifest lists ${name}, which is not in the package`,
          at: name,
        });
  }
}

/**
 * The stored bytes of one referenced file, across its chunks: hashes each member with the
 * algorithm the manifest names for it, counts, and keeps reading when the writer has stopped.
 */
class StoredFile {
  storedBytes = 0;
  private readonly chunkBytes: number[] = [];
  private member: PackageMember | null;
  private content: AsyncIterator<Buffer>;
  private hash: MemberHash;
  private readonly wholeHash: Hash | null;
  private readonly wholeAlgorithm: DigestAlgorithm;

  constructor(
    private readonly reader: PackageReader,
    private readonly file: OvfFileReference,
    first: PackageMember,
  ) {
    this.member = first;
    this.content = first.content[Symbol.asyncIterator]();
    this.hash = new MemberHash(reader.memberAlgorithm(first.name));
    this.wholeAlgorithm = file.chunkSizeBytes === null ? this.hash.algorithm : 'SHA256';
    this.wholeHash = file.chunkSizeBytes === null ? null : createHash('sha256');
  }

  async next(): Promise<Buffer | null> {
    while (this.member !== null) {
      const chunk = await this.reader.readBytes(this.content);
      if (chunk !== null) {
        this.hash.update(chunk);
        this.wholeHash?.update(chunk);
        this.storedBytes += chunk.length;
        return chunk;
      }
      if (this.reader.sourceFailedMidMember()) return null;
      this.reader.recordDigest(this.member.name, this.hash.digest());
      this.chunkBytes.push(this.hash.bytes);
      this.member =
        this.file.chunkSizeBytes === null
          ? null
          : await this.reader.nextChunk(this.file, this.chunkBytes.length);
      if (this.member) {
        this.content = this.member.content[Symbol.asyncIterator]();
        this.hash = new MemberHash(this.reader.memberAlgorithm(this.member.name));
      }
    }
    return null;
  }

  failed(): boolean {
    return this.reader.sourceFailedMidMember();
  }

  async drain(): Promise<void> {
    while ((await this.next()) !== null);
  }

  fileDigest(): MemberDigest {
    return this.wholeHash
      ? { algorithm: 'SHA256', hex: this.wholeHash.digest('hex') }
      : { algorithm: this.wholeAlgorithm, hex: this.lastDigest() };
  }

  private lastDigest(): string {
    return this.hash.hex ?? '';
  }

  sizeReasons(): PackageReason[] {
    const reasons: PackageReason[] = [];
    const { href, sizeBytes, chunkSizeBytes } = this.file;
    if (sizeBytes !== null && this.storedBytes !== sizeBytes)
      reasons.push({
        code: 'FILE.SIZE_MISMATCH',
        detail: `${href} is ${this.storedBytes} bytes, the descriptor declares ${sizeBytes}`,
        at: href,
      });
    if (chunkSizeBytes !== null) {
      this.chunkBytes.forEach((bytes, index) => {
        const last = index === this.chunkBytes.length - 1;
        if (last ? bytes > chunkSizeBytes || bytes === 0 : bytes !== chunkSizeBytes)
          reasons.push({
            code: 'FILE.CHUNK_SIZE_MISMATCH',
            detail: `${chunkMemberName(href, index)} is ${bytes} bytes; chunks of ${href} are ${chunkSizeBytes} bytes${last ? ' at most' : ''}`,
            at: chunkMemberName(href, index),
          });
      });
    }
    return reasons;
  }
}

class MemberHash {
  bytes = 0;
  hex: string | null = null;
  private readonly hash: Hash;

  constructor(readonly algorithm: DigestAlgorithm) {
    this.hash = createHash(HASH_NAMES[algorithm]);
  }

  update(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
  }

  digest(): MemberDigest {
    this.hex ??= this.hash.digest('hex');
    return { algorithm: this.algorithm, hex: this.hex };
  }
}

function digestOf(bytes: Buffer, algorithm: DigestAlgorithm): MemberDigest {
  return { algorithm, hex: createHash(HASH_NAMES[algorithm]).update(bytes).digest('hex') };
}

/** The References' hrefs are member names: flat, and each once. */
function referencesReasons(envelope: OvfEnvelope): PackageReason[] {
  const reasons: PackageReason[] = [];
  const seen = new Set<string>();
  for (const file of envelope.references) {
    reasons.push(
      ...memberNameReasons(file.href).map((reason) => ({
        ...reason,
        detail: `file ${file.id}: ${reason.detail}`,
      })),
    );
    if (seen.has(file.href))
      reasons.push({
        code: 'FILE.DUPLICATE_HREF',
        detail: `two files of the References are ${file.href}`,
        at: file.href,
      });
    seen.add(file.href);
  }
  return reasons;
}

/** Inflates as the bytes pass (never the whole file); a corrupt or cut gzip stream is a stop. */
async function* gunzip(
  stored: AsyncIterable<Buffer>,
  file: OvfFileReference,
  stop: (reason: PackageReason) => ReaderStop,
): AsyncGenerator<Buffer> {
  const input = Readable.from(stored, { objectMode: false });
  const inflater = createGunzip();
  let inputError: unknown = null;
  input.on('error', (error) => {
    inputError = error;
    inflater.destroy(error);
  });
  input.pipe(inflater);
  try {
    for await (const chunk of inflater) yield chunk as Buffer;
  } catch (error: unknown) {
    if (inputError !== null) throw inputError;
    throw stop({
      code: 'FILE.GZIP_CORRUPT',
      detail: `${file.href} does not inflate: ${(error as Error).message}`,
      at: file.href,
    });
  } finally {
    input.destroy();
    inflater.destroy();
  }
}
