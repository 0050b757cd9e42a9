/**
 * Import an OVF package: read it once, from an import root or from the API's upload, every check
 * the reader makes (archive, descriptor, manifest, certificate, sizes) and the job's own (the
 * descriptor the API validated, the disks it planned), each disk file converted into its new disk
 * as it passes. The disks are published only once the whole package passed; otherwise nothing is
 * left, neither an image nor a disk.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { DiskImportSession } from '@dolly/disk-engine';
import {
  type DiskPlacement,
  type ImportJob,
  type JobOutcome,
  RuleViolationError,
} from '@dolly/domain';
import {
  type OvfDisk,
  type OvfEnvelope,
  type OvfFileReference,
  type PackageMember,
  type PackageReason,
  PackageRefused,
  type ParsedDescriptor,
  folderMembers,
  ovaMembers,
  parseDescriptor,
  readPackage,
  writeDiskContent,
} from '@dolly/ovf';
import { discardRest } from '@dolly/platform';
import { answerJson, answerProblem } from '../transfers/transfer-answers';
import { type OpenedExchange } from '../transfers/attempt-transfer';
import { UploadCutOff, uploadParts, uploadedMembers } from '../transfers/uploaded-members';
import { type JobContext, operationId } from './job-context';
import { confinedPackagePath } from './import-roots';

type ImportOutcome = Extract<JobOutcome, { kind: 'import' }>;
type JobDisk = ImportJob['disks'][number];

/** The code a refused package fails its task with; the message lists every reason. */
export const IMPORT_REFUSED = 'IMPORT.REFUSED';

export async function importPackage(job: ImportJob, context: JobContext): Promise<JobOutcome> {
  const disks = new DiskImports(job, context);
  let upload: OpenedExchange | undefined;
  try {
    const source = await packageSource(job, context);
    upload = source.upload;
    const outcome = await disks.readAndCommit(source.members, source.totalBytes);
    if (upload) answerJson(upload.exchange.response, 200, outcome);
    return outcome;
  } catch (error) {
    // What could not be undone (a disk the engine would not delete) outweighs why the import
    // stopped: the task says that something was left.
    const failure = await disks.undo().then(
      () => asTaskFailure(error, context.signal),
      (undoError: unknown) => undoError,
    );
    if (upload) answerUploadFailure(upload, failure, context.signal);
    throw failure;
  } finally {
    upload?.close();
  }
}

/** Where the members come from: a file under an import root, or the API's upload. */
async function packageSource(
  job: ImportJob,
  context: JobContext,
): Promise<{
  members: (describe: Describe) => AsyncIterable<PackageMember>;
  totalBytes: number | null;
  upload?: OpenedExchange;
}> {
  if (job.source.kind === 'upload') {
    const upload = await context.transfer.open('upload', job.source.transfer.tokenSha256);
    // The body's length, when the API knows it, stands for the package's (the parts' few headers aside).
    const length = Number(upload.exchange.request.headers['content-length']);
    return {
      members: () => uploadedMembers(uploadParts(upload.exchange.request)),
      totalBytes: Number.isSafeInteger(length) && length > 0 ? length : null,
      upload,
    };
  }
  const path = await confinedPackagePath(job.source.path, context.imports.roots);
  if (/\.ova$/i.test(path)) {
    // Opened without following a link swapped in since the path was judged.
    const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    const { size } = await file.stat();
    return {
      members: () => ovaMembers(file.createReadStream({ highWaterMark: 1 << 20 })),
      totalBytes: size,
    };
  }
  return { members: (describe) => folderMembers(path, describe), totalBytes: null };
}

type Describe = (xml: Buffer) => ParsedDescriptor;

/** The job's disks being imported: a session per disk, opened as its file arrives. */
class DiskImports {
  private readonly sessions = new Map<string, DiskImportSession>();
  private readonly committed: DiskPlacement[] = [];
  private envelope: OvfEnvelope | null = null;
  private descriptorSha256: string | null = null;

  constructor(
    private readonly job: ImportJob,
    private readonly context: JobContext,
  ) {}

  async readAndCommit(
    members: (describe: Describe) => AsyncIterable<PackageMember>,
    totalBytes: number | null,
  ): Promise<ImportOutcome> {
    const { job, context } = this;
    const describe: Describe = (xml) => {
      this.descriptorSha256 = createHash('sha256').update(xml).digest('hex');
      return parseDescriptor(xml, { deploymentOption: job.deploymentOption ?? undefined });
    };
    const summary = await readPackage(members(describe), {
      describe,
      accept: async (envelope) => this.accept(envelope),
      openFile: async (file) => this.writerFor(file),
      certificatePolicy: {
        requireCertificate: job.requireCertificate,
        trustedCaPems: context.imports.trustedCaPems,
      },
      signal: context.signal,
      onProgress: (bytesRead, total) =>
        context.progress('read', bytesRead, total ?? totalBytes ?? bytesRead),
    });
    // Blank disks (no file in the package) are made empty, once the package passed.
    for (const disk of job.disks)
      if (!this.sessions.has(disk.diskId)) await this.begin(disk, undefined);
    for (const disk of job.disks) {
      const result = await this.sessions.get(disk.diskId)!.commit();
      this.sessions.delete(disk.diskId);
      this.committed.push({
        diskId: disk.diskId,
        layerId: result.layerId,
        allocatedBytes: result.allocatedBytes,
      });
    }
    context.progress('done', summary.bytesRead, summary.bytesRead);
    return {
      kind: 'import',
      disks: [...this.committed],
      package: {
        name: job.package.name,
        descriptorSha256: summary.descriptorSha256,
        manifestSha256: summary.manifest?.sha256 ?? null,
        certificate: summary.certificate
          ? {
              subject: summary.certificate.subject,
              fingerprintSha256: summary.certificate.fingerprintSha256,
            }
          : null,
      },
    };
  }

  /** The package must be the one the API validated and planned: every way it is not. */
  private accept(envelope: OvfEnvelope): Promise<void> {
    const { job } = this;
    const reasons: PackageReason[] = [];
    if (this.descriptorSha256 !== job.package.descriptorSha256)
      reasons.push({
        code: 'IMPORT.DESCRIPTOR_CHANGED',
        detail: `the descriptor's SHA-256 is ${this.descriptorSha256}, not the ${job.package.descriptorSha256} the import was planned with`,
      });
    const system = envelope.virtualSystems.find((s) => s.id === job.virtualSystemId);
    if (!system) {
      reasons.push({
        code: 'IMPORT.VIRTUAL_SYSTEM_MISSING',
        detail: `the package has no virtual system ${job.virtualSystemId}`,
        at: job.virtualSystemId,
      });
      throw new PackageRefused(reasons);
    }
    const attached = new Set(system.disks.map((d) => d.diskId));
    const planned = new Set(job.disks.map((d) => d.ovfDiskId));
    for (const diskId of attached)
      if (!planned.has(diskId))
        reasons.push({
          code: 'IMPORT.DISK_NOT_PLANNED',
          detail: `disk ${diskId} of ${system.id} is not one of the import's disks`,
          at: diskId,
        });
    for (const disk of job.disks) {
      const described = envelope.disks.find((d) => d.diskId === disk.ovfDiskId);
      if (!attached.has(disk.ovfDiskId) || !described)
        reasons.push({
          code: 'IMPORT.DISK_MISSING',
          detail: `disk ${disk.ovfDiskId} planned for the import is not a disk of ${system.id}`,
          at: disk.ovfDiskId,
        });
      else if (described.capacityBytes !== disk.capacityBytes)
        reasons.push({
          code: 'IMPORT.DISK_CAPACITY_CHANGED',
          detail: `disk ${disk.ovfDiskId} holds ${described.capacityBytes} bytes, not the ${disk.capacityBytes} planned`,
          at: disk.ovfDiskId,
        });
    }
    const planDisks = envelope.disks.filter((d) => planned.has(d.diskId) && d.fileRef !== null);
    for (const [fileRef, sharing] of groupBy(planDisks, (d) => d.fileRef!))
      if (sharing.length > 1)
        reasons.push({
          code: 'IMPORT.FILE_SHARED',
          detail: `file ${fileRef} is the content of several disks (${sharing.map((d) => d.diskId).join(', ')})`,
          at: fileRef,
        });
    if (reasons.length > 0) throw new PackageRefused(reasons);
    this.envelope = envelope;
    return Promise.resolve();
  }

  /** The writer of a file: into its disk's session, or nowhere (a file no planned disk uses). */
  private async writerFor(file: OvfFileReference) {
    const described = this.envelope?.disks.find((d) => d.fileRef === file.id);
    const disk = described && this.job.disks.find((d) => d.ovfDiskId === described.diskId);
    if (!described || !disk) return async () => undefined;
    if (described.format === null)
      throw new PackageRefused([
        {
          code: 'IMPORT.DISK_FORMAT_UNKNOWN',
          detail: `disk ${described.diskId} is in ${described.formatUri}, which Dolly does not read`,
          at: file.href,
        },
      ]);
    const format = described.format;
    const session = await this.begin(disk, described);
    return async (content: AsyncIterable<Buffer>) => {
      await writeDiskContent(content, format, disk.capacityBytes, session, {
        signal: this.context.signal,
        fileName: file.href,
      });
    };
  }

  private async begin(disk: JobDisk, described: OvfDisk | undefined): Promise<DiskImportSession> {
    const expected = described?.populatedSizeBytes ?? null;
    const session = await this.context.engine.beginDiskImport(
      {
        operationId: operationId(this.context, 'import', disk.diskId),
        datastoreId: this.job.datastoreId,
        diskId: disk.diskId,
        capacityBytes: disk.capacityBytes,
        format: disk.format,
        ...(disk.format === 'thin' && expected !== null
          ? { expectedDataBytes: Math.min(expected, disk.capacityBytes) }
          : {}),
      },
      { signal: this.context.signal },
    );
    this.sessions.set(disk.diskId, session);
    return session;
  }

  /** Leaves nothing: every session aborted, every disk already published deleted. */
  async undo(): Promise<void> {
    const aborts = [...this.sessions.values()].map((session) =>
      session.abort().catch(() => undefined),
    );
    this.sessions.clear();
    await Promise.all(aborts);
    const failures: unknown[] = [];
    for (const placed of this.committed.splice(0))
      await this.context.engine
        .deleteDisk({
          operationId: operationId(this.context, 'import-undo', placed.diskId),
          diskId: placed.diskId,
        })
        .catch((error: unknown) => failures.push(error));
    // Each disk was tried; the first failure says what was left.
    if (failures.length > 0) throw failures[0];
  }
}

/**
 * What the task fails with: a refused package as IMPORT.REFUSED listing every reason (the task
 * keeps a message, not a list); a cancel or anything else as it is.
 */
function asTaskFailure(error: unknown, signal: AbortSignal): unknown {
  // Stopped (cancel, a newer attempt): whatever failed on the way, the stop is the reason.
  if (signal.aborted) return signal.reason;
  if (error instanceof PackageRefused) return new ImportRefused(error.reasons);
  return error;
}

/** A hostile package may give thousands of reasons: the message says the first, the task keeps all. */
const REASONS_IN_MESSAGE = 50;

/** A refused package, as the task fails: IMPORT.REFUSED, every reason in its message. */
export class ImportRefused extends RuleViolationError {
  constructor(readonly packageReasons: PackageReason[]) {
    const said = packageReasons.slice(0, REASONS_IN_MESSAGE).map(describeReason).join('; ');
    const more = packageReasons.length - REASONS_IN_MESSAGE;
    super(
      IMPORT_REFUSED,
      `The package is refused: ${said}${more > 0 ? `; and ${more} more reasons` : ''}`,
      packageReasons.map(({ code, detail, at }) => ({
        code,
        detail: at ? `${detail} (at ${at})` : detail,
      })),
    );
  }
}

const describeReason = (reason: PackageReason) =>
  `${reason.code}: ${reason.detail}${reason.at ? ` (at ${reason.at})` : ''}`;

/** The API learns how the upload ended: every reason of a refusal, or why it stopped. */
function answerUploadFailure(upload: OpenedExchange, failure: unknown, signal: AbortSignal) {
  const { request, response } = upload.exchange;
  answerUploadEnding(response, failure, signal);
  discardRest(request);
}

function answerUploadEnding(response: ServerResponse, failure: unknown, signal: AbortSignal) {
  if (signal.aborted) {
    answerProblem(response, 409, 'TASK.CANCELLED', 'The import was stopped; nothing was kept');
    return;
  }
  if (failure instanceof UploadCutOff) return;
  if (failure instanceof ImportRefused) {
    answerProblem(response, 422, IMPORT_REFUSED, 'The package is refused; nothing was imported', {
      reasons: failure.packageReasons,
    });
    return;
  }
  const code = (failure as { code?: unknown }).code;
  answerProblem(
    response,
    500,
    typeof code === 'string' ? code : 'WORKER.INTERNAL',
    `The import failed; nothing was kept: ${(failure as Error).message}`,
  );
}

function groupBy<T, K>(items: T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}
