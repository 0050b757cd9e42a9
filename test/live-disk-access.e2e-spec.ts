/**
 * Live disks reachable only by those who may use them: a powered-on VM's NBD URIs (read and write
 * access to its disks and memory) are shown to the roles that may attach disks (admin, operator)
 * and to no one else, in every answer that carries them; the worker serves them over TCP with
 * TLS here (a client certificate of the CA required), and refuses to start on a runtime folder
 * others could enter.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DollyStack,
  type TestCertificates,
  type TestRole,
  makeTestCertificates,
} from '@dolly/testing';
import {
  type Accepted,
  MiB,
  expectStatus,
  registerDatastore,
  registerHost,
  vmDefinition,
  wait,
  workerServes,
} from './support/inventory';
import { type Vm, commandDone } from './support/vms';

jest.setTimeout(300_000);

const run = promisify(execFile);

let scratch: string;
let certificates: TestCertificates;
let port: number;
let stack: DollyStack;
let vmId: string;
let running: Vm;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: free } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return free;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'dolly-live-access-'));
  certificates = await makeTestCertificates(join(scratch, 'tls'));
  port = await freePort();
  stack = await DollyStack.start(undefined, {
    DOLLY_WORKER_NBD_LISTEN: `127.0.0.1:${port}`,
    DOLLY_WORKER_NBD_TLS_DIR: certificates.serverDir,
  });
  const hostId = await registerHost(stack);
  const datastoreId = await registerDatastore(stack);
  await workerServes(stack, datastoreId);
  const created = await commandDone(
    stack,
    'POST',
    '/vms',
    vmDefinition(hostId, datastoreId, undefined, [{ capacityBytes: 16 * MiB, format: 'thin' }]),
  );
  vmId = created.vmId;
  running = await commandDone(stack, 'POST', `/vms/${vmId}/power-on`);
});
afterAll(async () => {
  await stack?.stop();
  await rm(scratch, { recursive: true, force: true });
});

const get = async <T = unknown>(role: TestRole, path: string) =>
  expectStatus(await stack.request<T>('GET', path, { role }), 200);

/** Whatever says where a live disk is: a `uri` field, an NBD URI, the NBD port, a socket path. */
function whereLiveDisksAre(body: unknown): string[] {
  const text = JSON.stringify(body);
  return [
    ...(text.match(/"uri"/g) ?? []),
    ...(text.match(/nbds?(\+unix)?:\/\/[^"]*/g) ?? []),
    ...(text.match(new RegExp(`:${port}\\b`, 'g')) ?? []),
    ...(text.match(/[^"]*\.sock\b/g) ?? []),
  ];
}

async function nbdSize(uri: string): Promise<number> {
  const withCertificates = `${uri}?tls-certificates=${certificates.clientDir}`;
  return JSON.parse(
    (await run('nbdinfo', ['--size', '--json', withCertificates])).stdout,
  ) as number;
}

describe('roles that may attach disks (admin, operator)', () => {
  it.each(['admin', 'operator'] as const)(
    '%s sees the NBD URIs of a powered-on VM, and they work',
    async (role) => {
      const vm = await get<Vm>(role, `/vms/${vmId}`);
      expect(vm.live).not.toBeNull();
      const [disk] = vm.live!.exports;
      expect(disk.uri).toBe(`nbds://127.0.0.1:${port}/${disk.imageId}`);
      expect(vm.live!.memoryImage.uri).toBe(
        `nbds://127.0.0.1:${port}/${vm.live!.memoryImage.imageId}`,
      );
      expect(await nbdSize(disk.uri)).toBe(16 * MiB);
      expect(await nbdSize(vm.live!.memoryImage.uri)).toBe(vm.hardware.memoryBytes);
      const audit = await get<{ items: { type: string; data: Vm['live'] }[] }>(
        role,
        `/vms/${vmId}/audit-log`,
      );
      const poweredOn = audit.items.find((entry) => entry.type === 'VmPoweredOn');
      expect(poweredOn?.data?.exports[0].uri).toBe(disk.uri);
    },
  );
});

describe('roles that may not (auditor, host-client)', () => {
  it.each(['auditor', 'host-client'] as const)(
    '%s sees that the VM is live, where and what, but no URI anywhere',
    async (role) => {
      const vm = await get<Vm>(role, `/vms/${vmId}`);
      expect(vm.live).toEqual({
        workerId: running.live!.workerId,
        exports: running.live!.exports.map(({ imageId, writable }) => ({ imageId, writable })),
        memoryImage: {
          imageId: running.live!.memoryImage.imageId,
          writable: running.live!.memoryImage.writable,
        },
      });
      const bodies: unknown[] = [
        vm,
        await get(role, `/vms?powerState=poweredOn`),
        await get(role, `/tasks?targetId=${vmId}`),
      ];
      const tasks = (bodies[2] as { items: { taskId: string }[] }).items;
      for (const task of tasks) bodies.push(await get(role, `/tasks/${task.taskId}`));
      // Its creation and its power-on, at least.
      expect(tasks.length).toBeGreaterThanOrEqual(2);
      if (role === 'auditor') {
        const audit = await get<{ items: { type: string; data: Vm['live'] }[] }>(
          role,
          `/vms/${vmId}/audit-log`,
        );
        // The event that recorded the exports is there, without their URIs.
        const poweredOn = audit.items.find((entry) => entry.type === 'VmPoweredOn');
        expect(poweredOn?.data?.exports.map((e) => e.imageId)).toEqual(
          running.live!.exports.map((e) => e.imageId),
        );
        bodies.push(audit);
      }
      for (const body of bodies) expect(whereLiveDisksAre(body)).toEqual([]);
    },
  );

  it('a host client powering a VM on gets it back without URIs', async () => {
    const off = await stack.request<Accepted>('POST', `/vms/${vmId}/power-off`, {
      role: 'host-client',
      headers: wait(120),
    });
    expect(off.body.task?.status).toBe('succeeded');
    const on = await stack.request<Accepted>('POST', `/vms/${vmId}/power-on`, {
      role: 'host-client',
      headers: wait(120),
    });
    expect(on.body.task?.status).toBe('succeeded');
    const resource = on.body.resource as unknown as Vm;
    expect(resource.live?.exports.map((e) => e.imageId)).toEqual(
      running.live!.exports.map((e) => e.imageId),
    );
    expect(whereLiveDisksAre(on.body)).toEqual([]);
    // The admin still finds them, and they work.
    const vm = await get<Vm>('admin', `/vms/${vmId}`);
    expect(await nbdSize(vm.live!.exports[0].uri)).toBe(16 * MiB);
    // The worker measured its live disks after each job: it reads its own TLS exports as a client.
    expect(stack.logs('worker').filter((line) => /could not measure/.test(line))).toEqual([]);
  });

  it('the OpenAPI document says the URI is there for roles that may attach disks only', async () => {
    type Schema = {
      properties: Record<string, Schema>;
      anyOf: Schema[];
      items: Schema;
      required?: string[];
      description?: string;
    };
    const document = await get<{
      paths: Record<string, { get: { responses: Record<string, { content: unknown }> } }>;
    }>('auditor', '/openapi.json');
    const content = document.paths['/vms/{vmId}'].get.responses['200'].content as Record<
      string,
      { schema: Schema }
    >;
    const live = content['application/json'].schema.properties.live.anyOf.find(
      (option) => option.properties,
    )!;
    for (const exported of [live.properties.exports.items, live.properties.memoryImage]) {
      expect(exported.required).toEqual(['imageId', 'writable']);
      expect(exported.properties.uri.description).toMatch(
        /only for roles that may attach disks \(disks:attach: admin, operator\)/,
      );
    }
  });
});

describe('the worker’s runtime folder', () => {
  it('is refused at start when others may enter it, with the folder and the reason', async () => {
    const open = join(scratch, 'open-runtime');
    await mkdir(open);
    await chmod(open, 0o755);
    await expect(DollyStack.start(['worker'], { DOLLY_WORKER_RUNTIME_DIR: open })).rejects.toThrow(
      new RegExp(`runtime folder ${open} is refused: it has mode 0755`),
    );
  });
});
