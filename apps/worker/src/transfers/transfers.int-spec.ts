/**
 * The transfer endpoint on a real HTTP server (the platform's app, its body handling included)
 * with the import job behind it on the real disk engine: an OVA uploaded as the API sends it
 * (multipart: `spec`, then the file) is read as it streams in and answered with the outcome; a
 * wrong digest is answered 422 with its reasons; and the hostile requests (no or a wrong token, an
 * unknown task, a second request, the wrong method, an upload never made) get nothing of the job.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { Module } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { type DiskDataPlane, startDiskDataPlane } from '@dolly/disk-engine';
import type { ImportJob } from '@dolly/domain';
import { Metrics, createHttpApp } from '@dolly/platform';
import { buildOvfPackage, ovfDescriptor, qemuImgCompare, sha256Hex } from '@dolly/testing';
import { LoggerModule } from 'nestjs-pino';
import { ImportRefused, importPackage } from '../jobs/import.job';
import type { JobContext } from '../jobs/job-context';
import { attemptTransfer } from './attempt-transfer';
import { TransferRegistry } from './transfer-registry';
import { TransfersController } from './transfers.http.controller';

jest.setTimeout(120_000);

type ImportOutcome = Awaited<ReturnType<typeof importPackage>>;

const run = promisify(execFile);
const MIB = 1024 * 1024;
const CAPACITY = 4 * MIB;

@Module({
  imports: [LoggerModule.forRoot({ pinoHttp: { level: 'silent' } })],
  controllers: [TransfersController],
  providers: [TransferRegistry, Metrics],
})
class TransfersTestModule {}

let scratch: string;
let datastore: string;
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
  scratch = await mkdtemp(join(tmpdir(), 'dolly-transfers-'));
  datastore = join(scratch, 'ds');
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

/** An OVA made by qemu-img, sha256sum and GNU tar (USTAR, descriptor first). */
async function buildOva({ wrongDigestOf }: { wrongDigestOf?: string } = {}) {
  const dir = await mkdtemp(join(scratch, 'build-'));
  const raw = join(dir, 'source.raw');
  await run('qemu-img', ['create', '-q', '-f', 'raw', raw, String(CAPACITY)]);
  const file = await open(raw, 'r+');
  await file.write(Buffer.alloc(65536, 0x5a), 0, 65536, MIB + 512);
  await file.close();
  const built = await buildOvfPackage({
    dir,
    sourceDisk: raw,
    wrongDigestOf,
    descriptor: (vmdk) =>
      ovfDescriptor({
        cpus: 1,
        memoryMiB: 256,
        disks: [{ href: vmdk.href, fileSizeBytes: vmdk.sizeBytes, capacityBytes: CAPACITY }],
        nics: [],
      }),
  });
  return { ...built, raw };
}

/** The one disk an import placed holds the raw source's guest content (qemu-img compare). */
async function expectPlacedAsSource(outcome: ImportOutcome, raw: string): Promise<void> {
  const [placed] = (outcome as Extract<ImportOutcome, { kind: 'import' }>).disks;
  await qemuImgCompare(raw, 'raw', join(datastore, `${placed.layerId}.qcow2`), 'qcow2');
}

const ova = (built: { ova: string }) => [{ name: 'appliance.ova', path: built.ova }];

/** The import job of an upload, waiting on the app's registry, and the token the API holds. */
function uploadImport(descriptorSha256: string, waitMs = 10_000) {
  const token = randomBytes(32).toString('base64url');
  const taskId = randomUUID();
  const job: ImportJob = {
    kind: 'import',
    vmId: randomUUID(),
    datastoreId,
    source: { kind: 'upload', transfer: { tokenSha256: sha256Hex(token) } },
    package: { name: 'appliance.ova', descriptorSha256 },
    virtualSystemId: 'appliance',
    deploymentOption: null,
    requireCertificate: false,
    disks: [
      { ovfDiskId: 'vmdisk1', diskId: randomUUID(), capacityBytes: CAPACITY, format: 'thin' },
    ],
  };
  let announce!: () => void;
  const announced = new Promise<void>((resolve) => (announce = resolve));
  const stop = new AbortController();
  const { signal } = stop;
  const context: JobContext = {
    engine: plane.engine,
    taskId,
    workerId: 'worker-1',
    signal,
    progress: () => undefined,
    transfer: attemptTransfer(app.get(TransferRegistry), {
      taskId,
      waitMs,
      signal,
      announce: async () => announce(),
    }),
    imports: { roots: [], trustedCaPems: [] },
  };
  const running = importPackage(job, context);
  // Kept observed: a test that expects it to fail awaits it later.
  running.catch(() => undefined);
  return { job, taskId, token, announced, running, stop };
}

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

/** A request as the API makes it; the body streamed as it is produced, multipart when parts are given. */
function send(
  method: 'PUT' | 'GET',
  path: string,
  {
    token,
    parts,
    rawBody,
  }: { token?: string; parts?: { name: string; path: string }[]; rawBody?: string } = {},
): Promise<Answer> {
  const boundary = `dolly-${randomBytes(8).toString('hex')}`;
  return new Promise((resolve, reject) => {
    // A refused upload is answered before its body is read, and the connection closed: the
    // client may meet EPIPE while still sending. The answer counts, if it came.
    let responded = false;
    const failed = (error: unknown) =>
      setTimeout(
        () => responded || reject(error instanceof Error ? error : new Error(String(error))),
        500,
      );
    const request = httpRequest(
      `${baseUrl}${path}`,
      {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(parts ? { 'content-type': `multipart/form-data; boundary=${boundary}` } : {}),
          ...(rawBody ? { 'content-type': 'text/plain' } : {}),
        },
      },
      (response) => {
        responded = true;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode!,
            contentType: response.headers['content-type'],
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    request.on('error', failed);
    if (rawBody) return request.end(rawBody);
    if (!parts) return request.end();
    request.write(
      `--${boundary}\r\nContent-Disposition: form-data; name="spec"\r\n` +
        'Content-Type: application/json\r\n\r\n{"name":"appliance"}\r\n',
    );
    // Each file streamed as it is read, one after the other, as the API pipes the client's.
    const sendParts = async () => {
      for (const part of parts) {
        request.write(
          `--${boundary}\r\nContent-Disposition: form-data; name="package"; filename="${part.name}"\r\n` +
            'Content-Type: application/octet-stream\r\n\r\n',
        );
        await pipeline(createReadStream(part.path), request, { end: false });
        request.write('\r\n');
      }
      request.end(`--${boundary}--\r\n`);
    };
    sendParts().catch(failed);
  });
}

const datastoreFiles = async () =>
  (await readdir(datastore, { recursive: true }))
    .filter((name) => !name.startsWith('.dolly'))
    .sort();

describe('PUT /transfers/:taskId (an import upload)', () => {
  it('reads an uploaded OVA as it streams in and answers with the outcome; the disk reads back identical', async () => {
    const built = await buildOva();
    const upload = uploadImport(built.descriptorSha256);
    await upload.announced;

    const answer = await send('PUT', `/transfers/${upload.taskId}`, {
      token: upload.token,
      parts: ova(built),
    });

    expect(answer.status).toBe(200);
    const outcome = await upload.running;
    expect(JSON.parse(answer.body)).toEqual(outcome);
    expect(outcome).toMatchObject({
      kind: 'import',
      package: { descriptorSha256: built.descriptorSha256, manifestSha256: built.manifestSha256 },
    });
    await expectPlacedAsSource(outcome, built.raw);
  });

  it('reads an OVF uploaded as its files (descriptor, manifest, disk) the same way', async () => {
    const built = await buildOva();
    const upload = uploadImport(built.descriptorSha256);
    await upload.announced;

    const answer = await send('PUT', `/transfers/${upload.taskId}`, {
      token: upload.token,
      parts: built.files,
    });

    expect(answer.status).toBe(200);
    const outcome = await upload.running;
    expect(outcome).toMatchObject({ package: { manifestSha256: built.manifestSha256 } });
    await expectPlacedAsSource(outcome, built.raw);
  });

  it('refuses an upload whose parts are not a package, with every reason: a path in a name, and the disk it hid missing', async () => {
    const built = await buildOva();
    const upload = uploadImport(built.descriptorSha256);
    await upload.announced;
    const [ovf, manifest, disk] = built.files;

    const answer = await send('PUT', `/transfers/${upload.taskId}`, {
      token: upload.token,
      parts: [ovf, manifest, { name: '../appliance-disk1.vmdk', path: disk.path }],
    });

    expect(answer.status).toBe(422);
    const codes = (JSON.parse(answer.body) as { reasons: { code: string }[] }).reasons.map(
      (reason) => reason.code,
    );
    expect(codes).toContain('PACKAGE.PATH_TRAVERSAL');
    expect(codes.length).toBeGreaterThanOrEqual(2);
    expect(plane.engine.inventory().disks).toEqual([]);
  });

  it('answers a wrong digest 422 with every reason, and the task fails IMPORT.REFUSED leaving nothing', async () => {
    const built = await buildOva({ wrongDigestOf: 'appliance-disk1.vmdk' });
    const upload = uploadImport(built.descriptorSha256);
    await upload.announced;
    const before = await datastoreFiles();

    const answer = await send('PUT', `/transfers/${upload.taskId}`, {
      token: upload.token,
      parts: ova(built),
    });

    expect(answer.status).toBe(422);
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    const problem = JSON.parse(answer.body) as { code: string; reasons: { code: string }[] };
    expect(problem.code).toBe('IMPORT.REFUSED');
    expect(problem.reasons.map((reason) => reason.code)).toEqual(['MANIFEST.DIGEST_MISMATCH']);
    await expect(upload.running).rejects.toBeInstanceOf(ImportRefused);
    expect(await datastoreFiles()).toEqual(before);
    expect(plane.engine.inventory().disks).toEqual([]);
  });

  it('refuses a body that is not multipart with its reason', async () => {
    const built = await buildOva();
    const upload = uploadImport(built.descriptorSha256);
    await upload.announced;

    const answer = await send('PUT', `/transfers/${upload.taskId}`, {
      token: upload.token,
      rawBody: 'not a package',
    });

    expect(answer.status).toBe(422);
    expect((JSON.parse(answer.body) as { reasons: { code: string }[] }).reasons).toEqual([
      expect.objectContaining({ code: 'UPLOAD.NOT_MULTIPART' }),
    ]);
    await expect(upload.running).rejects.toBeInstanceOf(ImportRefused);
  });

  it('says nothing of a task to a wrong or missing token, takes one request only, and 404s what is not open', async () => {
    const built = await buildOva();
    const upload = uploadImport(built.descriptorSha256);
    await upload.announced;
    const path = `/transfers/${upload.taskId}`;

    const noToken = await send('PUT', path, { parts: ova(built) });
    const wrongToken = await send('PUT', path, {
      token: randomBytes(32).toString('base64url'),
      parts: ova(built),
    });
    const unknownTask = await send('PUT', `/transfers/${randomUUID()}`, {
      token: upload.token,
      parts: ova(built),
    });
    const notATaskId = await send('PUT', '/transfers/..%2F..%2Fetc', {
      token: upload.token,
      parts: ova(built),
    });
    for (const [answer, status] of [
      [noToken, 401],
      [wrongToken, 401],
      [unknownTask, 404],
      [notATaskId, 404],
    ] as const) {
      expect(answer.status).toBe(status);
      expect(answer.contentType).toMatch(/^application\/problem\+json/);
      for (const secret of [upload.taskId, upload.job.vmId, upload.job.source.kind, 'import'])
        expect(answer.body).not.toContain(secret);
    }

    // The wrong method with the right token does not take the upload either.
    expect((await send('GET', path, { token: upload.token })).status).toBe(409);
    // A second upload while the first is still coming in is refused; the first goes on.
    const whole = await readFile(built.ova);
    const boundary = 'dolly-first';
    let secondStatus: number | undefined;
    const first = new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${baseUrl}${path}`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${upload.token}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
        },
      });
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode!);
      });
      request.on('error', reject);
      request.write(
        `--${boundary}\r\nContent-Disposition: form-data; name="package"; filename="appliance.ova"\r\n\r\n`,
      );
      request.write(whole.subarray(0, whole.length / 2), () => {
        void send('PUT', path, { token: upload.token, parts: ova(built) }).then((second) => {
          secondStatus = second.status;
          request.end(
            Buffer.concat([
              whole.subarray(whole.length / 2),
              Buffer.from(`\r\n--${boundary}--\r\n`),
            ]),
          );
        }, reject);
      });
    });
    expect([await first, secondStatus]).toEqual([200, 409]);
    await upload.running;
    // Once the job is over, nothing is open here.
    expect((await send('PUT', path, { token: upload.token, parts: ova(built) })).status).toBe(404);
  });

  it('stops an upload in progress when the task is cancelled: answered 409, nothing left', async () => {
    const built = await buildOva();
    const upload = uploadImport(built.descriptorSha256);
    await upload.announced;
    const before = await datastoreFiles();
    const ova = await readFile(built.ova);
    const boundary = 'dolly-cancel';

    const answered = new Promise<number>((resolve, reject) => {
      const request = httpRequest(`${baseUrl}/transfers/${upload.taskId}`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${upload.token}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
        },
      });
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode!);
      });
      request.on('error', reject);
      // Half the package, and then nothing more: the job is reading when the cancel comes.
      request.write(
        `--${boundary}\r\nContent-Disposition: form-data; name="package"; filename="appliance.ova"\r\n\r\n`,
      );
      request.write(ova.subarray(0, ova.length / 2));
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    upload.stop.abort('cancelled');

    expect(await answered).toBe(409);
    await expect(upload.running).rejects.toBe('cancelled');
    expect(await datastoreFiles()).toEqual(before);
    expect(plane.engine.inventory().disks).toEqual([]);
  });

  it('fails the task IMPORT.UPLOAD_TIMEOUT when the API never comes, and closes the transfer', async () => {
    const upload = uploadImport('b'.repeat(64), 300);

    await expect(upload.running).rejects.toMatchObject({ code: 'IMPORT.UPLOAD_TIMEOUT' });
    expect((await send('PUT', `/transfers/${upload.taskId}`, { token: upload.token })).status).toBe(
      404,
    );
  });
});
