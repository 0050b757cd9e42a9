/**
 * The export job against the real disk engine, streamed through the real transfer endpoint: the
 * OVA the API downloads is read by outside tools (tar lists it in order, sha256sum checks its
 * manifest, qemu-img reads each VMDK as streamOptimized and equal to its disk), imports back into
 * Dolly with the same disk content, and leaves nothing staged on the datastore.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Module } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { type DiskDataPlane, startDiskDataPlane } from '@dolly/disk-engine';
import type { ExportJob } from '@dolly/domain';
import { Metrics, createHttpApp } from '@dolly/platform';
import { chunkMemberName, parseDescriptor } from '@dolly/ovf';
import { LoggerModule } from 'nestjs-pino';
import { attemptTransfer } from '../transfers/attempt-transfer';
import { TransferRegistry } from '../transfers/transfer-registry';
import { TransfersController } from '../transfers/transfers.http.controller';
import { OVA_CHUNKING, exportPackage, packageBaseName } from './export.job';
import { importPackage } from './import.job';
import type { JobContext } from './job-context';

jest.setTimeout(120_000);

const run = promisify(execFile);
const MIB = 1024 * 1024;
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

@Module({
  imports: [LoggerModule.forRoot({ pinoHttp: { level: 'silent' } })],
  controllers: [TransfersController],
  providers: [TransferRegistry, Metrics],
})
class TransfersTestModule {}

let scratch: string;
let datastore: string;
let importRoot: string;
let plane: DiskDataPlane;
let app: NestExpressApplication;
let baseUrl: string;
const datastoreId = randomUUID();

beforeAll(async () => {
  app = await createHttpApp(TransfersTestModule, { streamedBodyPaths: ['/transfers/'] });
  await app.listen(0, '127.0.0.1');
  baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
});
afterAll(async () => {
  await app?.close();
});
beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'dolly-export-job-'));
  datastore = join(scratch, 'ds');
  importRoot = join(scratch, 'imports');
  await mkdir(datastore);
  await mkdir(importRoot);
  plane = await startDiskDataPlane({
    datastores: [{ datastoreId, path: datastore }],
    runtimeDir: join(scratch, 'rt'),
  });
});
afterEach(async () => {
  await plane?.stop().catch(() => undefined);
  await rm(scratch, { recursive: true, force: true });
});

/** A disk with data at a few places, written through the engine. */
async function diskWithData(diskId: string, capacityBytes: number) {
  await plane.engine.createDisk({
    operationId: `create-${diskId}`,
    datastoreId,
    diskId,
    format: 'thin',
    capacityBytes,
  });
  for (const [offset, byte] of [
    [0, 0x61],
    [MIB + 4096, 0x62],
    [capacityBytes - 65536, 0x63],
  ])
    await plane.engine.write({ diskId, offsetBytes: offset, data: Buffer.alloc(65536, byte) });
}

/** Disks of 32 and 4 MiB with data, the first with `randomBytes` that do not compress. */
async function twoDisks(randomBytesCount: number) {
  const disks = [
    { diskId: randomUUID(), capacityBytes: 32 * MIB },
    { diskId: randomUUID(), capacityBytes: 4 * MIB },
  ];
  for (const disk of disks) await diskWithData(disk.diskId, disk.capacityBytes);
  await plane.engine.write({
    diskId: disks[0].diskId,
    offsetBytes: 2 * MIB,
    data: randomBytes(randomBytesCount),
  });
  return disks;
}

const layerFile = (diskId: string) =>
  join(
    datastore,
    `${plane.engine.inventory().disks.find((d) => d.diskId === diskId)!.topLayerId}.qcow2`,
  );

function context(taskId: string, signal = new AbortController().signal) {
  let announce!: () => void;
  const announced = new Promise<void>((resolve) => (announce = resolve));
  const jobContext: JobContext = {
    engine: plane.engine,
    taskId,
    workerId: 'worker-1',
    signal,
    progress: () => undefined,
    transfer: attemptTransfer(app.get(TransferRegistry), {
      taskId,
      waitMs: 10_000,
      signal,
      announce: async () => announce(),
    }),
    imports: { roots: [importRoot], trustedCaPems: [] },
  };
  return { jobContext, announced };
}

/** A GET as the API makes it; `whileStreaming` runs once the OVA started coming, before it is read on. */
function get(
  path: string,
  token: string | undefined,
  into?: string,
  whileStreaming?: () => Promise<void>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${baseUrl}${path}`, {
      method: 'GET',
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
    request.on('response', (response) => {
      if (into && response.statusCode === 200) {
        response.pause();
        (whileStreaming ?? (async () => undefined))()
          .then(() => pipeline(response, createWriteStream(into)))
          .then(
            () => resolve(200),
            (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
          );
      } else {
        response.resume();
        response.on('end', () => resolve(response.statusCode!));
      }
    });
    request.on('error', reject);
    request.end();
  });
}

const datastoreFiles = async () =>
  (await readdir(datastore, { recursive: true }))
    .filter((name) => !name.startsWith('.dolly'))
    .sort();

/**
 * Imports the exported OVA back into Dolly (the package reader checks every digest, joins any
 * chunks) and compares each disk placed with the disk exported; the virtual system it described.
 */
async function importedBack(
  ova: string,
  descriptor: Buffer,
  manifest: string,
  disks: { diskId: string; capacityBytes: number }[],
) {
  const parsed = parseDescriptor(descriptor);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.reasons));
  const [system] = parsed.envelope.virtualSystems;
  const imported = await importPackage(
    {
      kind: 'import',
      vmId: randomUUID(),
      datastoreId,
      source: { kind: 'path', path: ova },
      package: { name: basename(ova), descriptorSha256: sha256(descriptor) },
      virtualSystemId: system.id,
      deploymentOption: null,
      requireCertificate: false,
      disks: disks.map((disk, index) => ({
        ovfDiskId: system.disks[index].diskId,
        diskId: randomUUID(),
        capacityBytes: disk.capacityBytes,
        format: 'thin' as const,
      })),
    },
    context(randomUUID()).jobContext,
  );
  expect(imported).toMatchObject({ kind: 'import', package: { manifestSha256: sha256(manifest) } });
  for (const [index, disk] of disks.entries()) {
    const placed = (imported as Extract<typeof imported, { kind: 'import' }>).disks[index];
    await run('qemu-img', [
      'compare',
      '-F',
      'qcow2',
      '-f',
      'qcow2',
      join(datastore, `${placed.layerId}.qcow2`),
      layerFile(disk.diskId),
    ]);
  }
  return system;
}

function exportJob(
  vm: ExportJob['vm'],
  disks: { diskId: string; capacityBytes: number }[],
  tokenSha256: string,
): ExportJob {
  return {
    kind: 'export',
    vmId: randomUUID(),
    datastoreId,
    snapshotId: null,
    transfer: { tokenSha256 },
    vm,
    disks: disks.map((disk, index) => ({
      ...disk,
      label: `Hard disk ${index + 1}`,
      layerId: null,
    })),
  };
}

/** A one-vCPU, 256 MiB VM with no NIC: what a test needs when the hardware is not its subject. */
const smallVm = (name: string): ExportJob['vm'] => ({
  name,
  hardware: { vcpus: 1, memoryBytes: 256 * MIB, hardwareVersion: 'vmx-13', guestOs: 'otherGuest' },
  nics: [],
});

/**
 * Starts the export and waits until it has announced its transfer; the export's promise comes
 * wrapped (an async function returning it bare would wait for it to settle).
 */
async function startedExport(
  job: ExportJob,
  taskId: string,
  options: { signal?: AbortSignal; chunking?: Parameters<typeof exportPackage>[2] } = {},
) {
  const { jobContext, announced } = context(taskId, options.signal);
  const running = exportPackage(job, jobContext, options.chunking);
  running.catch(() => undefined);
  await announced;
  return { running };
}

/** The OVA's members, extracted by tar into a folder of the test's. */
async function unpacked(ova: string): Promise<string> {
  const folder = join(scratch, 'unpacked');
  await mkdir(folder);
  await run('tar', ['-xf', ova, '-C', folder]);
  return folder;
}

/** sha256sum's check of the files in `folder` against a manifest in OVF's notation; its output. */
async function sha256sumCheck(manifest: string, folder: string): Promise<string> {
  const sums = manifest.replace(/^SHA256\((.+)\)= ([0-9a-f]{64})$/gm, '$2  $1');
  const { stdout } = await run('sh', ['-c', `printf '%s' "$1" | sha256sum -c -`, 'sh', sums], {
    cwd: folder,
  });
  return stdout;
}

describe('export', () => {
  it('streams an OVA other tools read, which imports back with the same disks; nothing stays staged', async () => {
    // Incompressible data, more than the sockets buffer: the OVA is still coming while it is held.
    const disks = await twoDisks(24 * MIB);
    const before = await datastoreFiles();
    const token = randomBytes(32).toString('base64url');
    const job = exportJob(
      {
        name: 'web server/01',
        hardware: {
          vcpus: 2,
          memoryBytes: 1024 * MIB,
          hardwareVersion: 'vmx-13',
          guestOs: 'ubuntu64Guest',
        },
        nics: [{ macAddress: '00:50:56:aa:bb:01', network: 'VM Network' }],
      },
      disks,
      sha256(token),
    );
    const taskId = randomUUID();
    const { running } = await startedExport(job, taskId);

    expect(await get(`/transfers/${taskId}`, randomBytes(32).toString('base64url'))).toBe(401);
    const ova = join(importRoot, 'exported.ova');
    let second: number | undefined;
    const status = await get(`/transfers/${taskId}`, token, ova, async () => {
      second = await get(`/transfers/${taskId}`, token);
    });
    expect([status, second]).toEqual([200, 409]);
    await expect(running).resolves.toEqual({ kind: 'export' });

    const base = packageBaseName(job.vm.name);
    expect(base).toBe('web_server_01');
    const members = (await run('tar', ['-tf', ova])).stdout.trim().split('\n');
    expect(members).toEqual([
      `${base}.ovf`,
      `${base}.mf`,
      `${base}-disk1.vmdk`,
      `${base}-disk2.vmdk`,
    ]);
    const folder = await unpacked(ova);
    // The manifest checks with sha256sum, once written in its notation.
    const manifest = await readFile(join(folder, `${base}.mf`), 'utf8');
    await expect(sha256sumCheck(manifest, folder)).resolves.toBeTruthy();
    for (const [index, disk] of disks.entries()) {
      const vmdk = join(folder, `${base}-disk${index + 1}.vmdk`);
      const info = JSON.parse((await run('qemu-img', ['info', '--output=json', vmdk])).stdout) as {
        format: string;
        'virtual-size': number;
        'format-specific'?: { data?: { 'create-type'?: string } };
      };
      expect(info.format).toBe('vmdk');
      expect(info['format-specific']?.data?.['create-type']).toBe('streamOptimized');
      expect(info['virtual-size']).toBe(disk.capacityBytes);
      await run('qemu-img', ['compare', '-f', 'vmdk', '-F', 'qcow2', vmdk, layerFile(disk.diskId)]);
    }
    expect(await datastoreFiles()).toEqual(before);

    // And back into Dolly: the descriptor as written, each disk as it was.
    const descriptor = await readFile(join(folder, `${base}.ovf`));
    const system = await importedBack(ova, descriptor, manifest, disks);
    expect(system).toMatchObject({ vcpus: 2, memoryBytes: 1024 * MIB, hardwareVersion: 'vmx-13' });
  });

  it('chunks a disk file larger than a member may be (ovf:chunkSize); Dolly reads it back whole', async () => {
    const disks = await twoDisks(12 * MIB);
    // As production chunks a file over USTAR's limit in chunks it can hold, at sizes a test reaches.
    const chunking = { maxMemberBytes: 5 * MIB, chunkBytes: 4 * MIB };
    expect(OVA_CHUNKING.chunkBytes).toBeLessThanOrEqual(OVA_CHUNKING.maxMemberBytes);
    const token = randomBytes(32).toString('base64url');
    const job = exportJob(smallVm('big'), disks, sha256(token));
    const taskId = randomUUID();
    const { running } = await startedExport(job, taskId, { chunking });
    const ova = join(importRoot, 'chunked.ova');
    expect(await get(`/transfers/${taskId}`, token, ova)).toBe(200);
    await expect(running).resolves.toEqual({ kind: 'export' });

    // GNU tar, held to USTAR: the large disk in chunks, the small one whole.
    const members = (await run('tar', ['--format=ustar', '-tf', ova])).stdout.trim().split('\n');
    const chunks = members.filter((name) => name.startsWith('big-disk1.vmdk.'));
    expect(chunks.length).toBeGreaterThan(1);
    expect(members).toEqual([
      'big.ovf',
      'big.mf',
      ...chunks.map((_name, index) => chunkMemberName('big-disk1.vmdk', index)),
      'big-disk2.vmdk',
    ]);
    const folder = await unpacked(ova);
    const manifest = await readFile(join(folder, 'big.mf'), 'utf8');
    const checked = await sha256sumCheck(manifest, folder);
    expect(checked.trim().split('\n')).toEqual(
      members.filter((m) => m !== 'big.mf').map((m) => `${m}: OK`),
    );
    const descriptor = await readFile(join(folder, 'big.ovf'));
    expect(descriptor.toString()).toContain(
      `<File ovf:chunkSize="${chunking.chunkBytes}" ovf:href="big-disk1.vmdk"`,
    );

    // The package reader joins the chunks: imported, each disk is the one exported.
    await importedBack(ova, descriptor, manifest, disks);
  });

  it('releases the staging when the API never comes for the OVA', async () => {
    const diskId = randomUUID();
    await diskWithData(diskId, 4 * MIB);
    const before = await datastoreFiles();
    const taskId = randomUUID();
    const stop = new AbortController();
    const { running } = await startedExport(
      exportJob(smallVm('vm'), [{ diskId, capacityBytes: 4 * MIB }], sha256('unused')),
      taskId,
      { signal: stop.signal },
    );
    stop.abort('cancelled');

    await expect(running).rejects.toBe('cancelled');
    expect(await datastoreFiles()).toEqual(before);
  });
});
