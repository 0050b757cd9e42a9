/**
 * The import job against the real disk engine (qemu-img, qemu-nbd, the storage daemon), with
 * packages built here by outside tools (qemu-img's streamOptimized VMDK, GNU tar in USTAR,
 * sha256sum): a package under an import root imports and its disk reads back identical
 * (qemu-img compare); a path outside the roots, a link out of one, a wrong digest or a descriptor
 * other than the one planned are refused with their reasons and leave the datastore as it was.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type DiskDataPlane, startDiskDataPlane } from '@dolly/disk-engine';
import type { ImportJob } from '@dolly/domain';
import { buildOvfPackage, type OvfPackage, ovfDescriptor, qemuImgCompare } from '@dolly/testing';
import { attemptTransfer } from '../transfers/attempt-transfer';
import { TransferRegistry } from '../transfers/transfer-registry';
import { ImportRefused, importPackage } from './import.job';
import type { JobContext } from './job-context';

jest.setTimeout(120_000);

type ImportOutcome = Awaited<ReturnType<typeof importPackage>>;

const run = promisify(execFile);
const MIB = 1024 * 1024;
const CAPACITY = 8 * MIB;

let scratch: string;
let importRoot: string;
let datastore: string;
let plane: DiskDataPlane;
const datastoreId = randomUUID();

beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'dolly-import-job-'));
  importRoot = join(scratch, 'imports');
  datastore = join(scratch, 'ds');
  await mkdir(importRoot);
  await mkdir(datastore);
  plane = await startDiskDataPlane({
    datastores: [{ datastoreId, path: datastore }],
    runtimeDir: join(scratch, 'rt'),
  });
});
afterEach(async () => {
  await plane?.stop().catch(() => undefined);
  await rm(scratch, { recursive: true, force: true });
});

/** A raw disk with recognisable data at a few places (one unaligned, one in the last MiB). */
async function sourceDisk(folder: string): Promise<string> {
  const raw = join(folder, 'source.raw');
  await run('qemu-img', ['create', '-q', '-f', 'raw', raw, String(CAPACITY)]);
  const file = await open(raw, 'r+');
  try {
    for (const [offset, byte, length] of [
      [0, 0x11, 65536],
      [3 * MIB + 512, 0x22, 4096],
      [5 * MIB - 100, 0x33, 300],
      [CAPACITY - 65536, 0x44, 65536],
    ])
      await file.write(Buffer.alloc(length, byte), 0, length, offset);
  } finally {
    await file.close();
  }
  return raw;
}

interface BuiltPackage extends OvfPackage {
  raw: string;
}

/**
 * An OVA as other tools make one (qemu-img, sha256sum, GNU tar in USTAR with the descriptor
 * first), placed in `folder`; its loose files in `filesIn`, else beside the test's other scratch
 * files. `wrongDigestOf` writes a wrong digest for that member into the manifest.
 */
async function buildOva(
  folder: string,
  { wrongDigestOf, filesIn }: { wrongDigestOf?: string; filesIn?: string } = {},
): Promise<BuiltPackage> {
  const dir = await mkdtemp(join(filesIn ?? scratch, 'build-'));
  const raw = await sourceDisk(dir);
  const built = await buildOvfPackage({
    dir,
    sourceDisk: raw,
    ova: join(folder, 'appliance.ova'),
    wrongDigestOf,
    descriptor: (vmdk) =>
      ovfDescriptor({
        cpus: 1,
        memoryMiB: 512,
        disks: [{ href: vmdk.href, fileSizeBytes: vmdk.sizeBytes, capacityBytes: CAPACITY }],
      }),
  });
  return { ...built, raw };
}

/** The one disk an import placed holds the raw source's guest content (qemu-img compare). */
async function expectPlacedAsSource(outcome: ImportOutcome, raw: string): Promise<void> {
  const [placed] = (outcome as Extract<ImportOutcome, { kind: 'import' }>).disks;
  await qemuImgCompare(raw, 'raw', join(datastore, `${placed.layerId}.qcow2`), 'qcow2');
}

function importJob(built: BuiltPackage, source: ImportJob['source']): ImportJob {
  return {
    kind: 'import',
    vmId: randomUUID(),
    datastoreId,
    source,
    package: { name: 'appliance.ova', descriptorSha256: built.descriptorSha256 },
    virtualSystemId: 'appliance',
    deploymentOption: null,
    requireCertificate: false,
    disks: [
      { ovfDiskId: 'vmdisk1', diskId: randomUUID(), capacityBytes: CAPACITY, format: 'thin' },
    ],
  };
}

function jobContext(registry = new TransferRegistry(), signal = new AbortController().signal) {
  const taskId = randomUUID();
  const progress: Array<[string, number, number]> = [];
  const announced: string[] = [];
  const context: JobContext = {
    engine: plane.engine,
    taskId,
    workerId: 'worker-1',
    signal,
    progress: (phase, done, total) => progress.push([phase, done, total]),
    transfer: attemptTransfer(registry, {
      taskId,
      waitMs: 5_000,
      signal,
      announce: async () => {
        announced.push(taskId);
      },
    }),
    imports: { roots: [importRoot], trustedCaPems: [] },
  };
  return { context, progress, announced };
}

/** Every file of the datastore folder but the engine's metadata, with its size. */
async function datastoreFiles(): Promise<string[]> {
  const entries = await readdir(datastore, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !join(entry.parentPath, entry.name).includes('/.dolly'))
    .filter((entry) => entry.name !== '.dolly')
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

const inventoryDisks = () =>
  plane.engine
    .inventory()
    .disks.map((disk) => disk.diskId)
    .sort();

async function refusal(promise: Promise<unknown>): Promise<ImportRefused> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ImportRefused))
    throw new Error(`expected a refusal, got ${String(error)}`);
  expect(error.code).toBe('IMPORT.REFUSED');
  return error;
}

const codes = (error: ImportRefused) => error.packageReasons.map((reason) => reason.code);

describe('import from a path under an import root', () => {
  it('imports an OVA made by qemu-img, sha256sum and tar: the disk reads back identical', async () => {
    const built = await buildOva(importRoot);
    const job = importJob(built, { kind: 'path', path: built.ova });
    const { context, progress } = jobContext();

    const outcome = await importPackage(job, context);

    expect(outcome).toEqual({
      kind: 'import',
      disks: [
        {
          diskId: job.disks[0].diskId,
          layerId: expect.any(String),
          allocatedBytes: expect.any(Number),
        },
      ],
      package: {
        name: 'appliance.ova',
        descriptorSha256: built.descriptorSha256,
        manifestSha256: built.manifestSha256,
        certificate: null,
      },
    });
    await expectPlacedAsSource(outcome, built.raw);
    expect(progress.at(-1)?.[0]).toBe('done');
  });

  it('imports an OVF (descriptor, manifest and disk side by side) by the path of its descriptor', async () => {
    const built = await buildOva(scratch, { filesIn: importRoot });
    const job = importJob(built, { kind: 'path', path: built.ovf });

    const outcome = await importPackage(job, jobContext().context);

    expect(outcome).toMatchObject({
      kind: 'import',
      package: { descriptorSha256: built.descriptorSha256, manifestSha256: built.manifestSha256 },
    });
    await expectPlacedAsSource(outcome, built.raw);
  });

  it('refuses a path outside every root, and a link inside a root that leads out, leaving nothing', async () => {
    const outside = join(scratch, 'outside');
    await mkdir(outside);
    const built = await buildOva(outside);
    await symlink(built.ova, join(importRoot, 'escape.ova'));
    const before = await datastoreFiles();

    for (const path of [
      built.ova,
      join(importRoot, 'escape.ova'),
      `${importRoot}/../outside/appliance.ova`,
    ]) {
      const error = await refusal(
        importPackage(importJob(built, { kind: 'path', path }), jobContext().context),
      );
      expect(codes(error)).toContain(
        path.includes('..') ? 'IMPORT.PATH_NOT_NORMAL' : 'IMPORT.PATH_OUTSIDE_ROOTS',
      );
    }
    expect(await datastoreFiles()).toEqual(before);
    expect(inventoryDisks()).toEqual([]);
  });

  it('refuses a package whose manifest digest is wrong, leaving the datastore folder as it was', async () => {
    const built = await buildOva(importRoot, { wrongDigestOf: 'appliance-disk1.vmdk' });
    const before = await datastoreFiles();

    const error = await refusal(
      importPackage(importJob(built, { kind: 'path', path: built.ova }), jobContext().context),
    );

    expect(error.packageReasons).toEqual([
      expect.objectContaining({ code: 'MANIFEST.DIGEST_MISMATCH', at: 'appliance-disk1.vmdk' }),
    ]);
    expect(error.message).toContain('MANIFEST.DIGEST_MISMATCH');
    expect(await datastoreFiles()).toEqual(before);
    expect(inventoryDisks()).toEqual([]);
  });

  it('refuses a descriptor other than the one the API planned with, and disks it did not plan, every reason at once', async () => {
    const built = await buildOva(importRoot);
    const job = importJob(
      { ...built, descriptorSha256: 'a'.repeat(64) },
      { kind: 'path', path: built.ova },
    );
    job.disks = [
      { ovfDiskId: 'vmdisk9', diskId: randomUUID(), capacityBytes: CAPACITY, format: 'thin' },
    ];
    const before = await datastoreFiles();

    const error = await refusal(importPackage(job, jobContext().context));

    expect(codes(error).sort()).toEqual([
      'IMPORT.DESCRIPTOR_CHANGED',
      'IMPORT.DISK_MISSING',
      'IMPORT.DISK_NOT_PLANNED',
    ]);
    expect(await datastoreFiles()).toEqual(before);
    expect(inventoryDisks()).toEqual([]);
  });

  it('refuses an unsigned package when the import requires a certificate', async () => {
    const built = await buildOva(importRoot);
    const job = {
      ...importJob(built, { kind: 'path', path: built.ova }),
      requireCertificate: true,
    };

    const error = await refusal(importPackage(job, jobContext().context));

    expect(codes(error)).toEqual(['CERTIFICATE.MISSING']);
    expect(inventoryDisks()).toEqual([]);
  });

  it('stops when cancelled while reading, and leaves nothing', async () => {
    const built = await buildOva(importRoot);
    const controller = new AbortController();
    const { context } = jobContext(new TransferRegistry(), controller.signal);
    const before = await datastoreFiles();
    context.progress = () => controller.abort('cancelled');

    const error = await importPackage(
      importJob(built, { kind: 'path', path: built.ova }),
      context,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(error).toBe('cancelled');
    expect(await datastoreFiles()).toEqual(before);
    expect(inventoryDisks()).toEqual([]);
  });
});
