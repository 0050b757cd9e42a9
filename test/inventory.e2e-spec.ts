import { DollyStack } from '@dolly/testing';
import {
  type Accepted,
  GiB,
  createVm,
  expectStatus,
  registerDatastore,
  registerHost,
  MiB,
  vmDefinition,
  wait,
  workerServes,
} from './support/inventory';

let stack: DollyStack;
let hostId: string;
let datastoreId: string;

beforeAll(async () => {
  stack = await DollyStack.start();
  hostId = await registerHost(stack);
  datastoreId = await registerDatastore(stack);
  await workerServes(stack, datastoreId);
}, 120_000);
afterAll(() => stack?.stop());

type Vm = {
  vmId: string;
  name: string;
  role: string;
  powerState: string;
  version: number;
  nics: { macAddress: string }[];
  biosUuid: string;
};
type Page<T> = { items: T[]; nextCursor: string | null };

describe('the inventory through the whole pipeline (api → store → outbox → Kafka → projector → read model)', () => {
  it('answers a command with 202, a task and its location, and the task and VM show once projected', async () => {
    const answer = await stack.request<Accepted>('POST', '/vms', {
      body: vmDefinition(hostId, datastoreId, 'web-01'),
    });
    const accepted = expectStatus(answer, 202);
    expect(answer.headers.get('location')).toBe(`/tasks/${accepted.taskId}`);
    expect(accepted).toMatchObject({
      status: 'succeeded',
      changed: true,
      projected: false,
      target: { type: 'vm', version: 1 },
    });

    const vm = await stack.eventually(async () => {
      const got = await stack.request<Vm>('GET', `/vms/${accepted.target.id}`);
      return got.status === 200 && got.body;
    });
    expect(vm).toMatchObject({
      name: 'web-01',
      role: 'vm',
      powerState: 'poweredOff',
      lifecycle: 'ready',
      version: 1,
    });
    expect(vm.nics[0].macAddress).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    const task = expectStatus(
      await stack.request<{ status: string; operation: string; projected: boolean }>(
        'GET',
        `/tasks/${accepted.taskId}`,
      ),
      200,
    );
    expect(task).toMatchObject({ status: 'succeeded', operation: 'CreateVm' });
  });

  it('waits for the projection when the client prefers to, and answers with the resource', async () => {
    const answer = await stack.request<Accepted>('POST', '/vms', {
      body: vmDefinition(hostId, datastoreId, 'waited'),
      headers: { prefer: 'wait=10' },
    });
    const body = expectStatus(answer, 201);
    expect(answer.headers.get('preference-applied')).toBe('wait=10');
    expect(answer.headers.get('location')).toBe(`/vms/${body.target.id}`);
    expect(body).toMatchObject({
      projected: true,
      resource: { name: 'waited', powerState: 'poweredOff' },
    });
  });

  it('runs the power cycle on real disks, rename and delete, refusing what the domain forbids with stable codes', async () => {
    const vmId = await createVm(stack, hostId, datastoreId, [
      { capacityBytes: 16 * MiB, format: 'thin' },
    ]);
    const on = expectStatus(
      await stack.request<Accepted>('POST', `/vms/${vmId}/power-on`, { headers: wait() }),
      200,
    );
    expect(on.task?.status).toBe('succeeded');
    expect(on.resource).toMatchObject({
      powerState: 'poweredOn',
      live: { exports: [{ writable: true }] },
    });

    const deleteRunning = await stack.request<{ code: string }>('DELETE', `/vms/${vmId}`);
    expect(deleteRunning.status).toBe(409);
    expect(deleteRunning.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(deleteRunning.body.code).toBe('VM.NOT_POWERED_OFF');

    expect(
      expectStatus(
        await stack.request<Accepted>('POST', `/vms/${vmId}/suspend`, { headers: wait() }),
        200,
      ).resource,
    ).toMatchObject({ powerState: 'suspended' });
    expect(
      expectStatus(
        await stack.request<Accepted>('POST', `/vms/${vmId}/power-off`, { headers: wait() }),
        200,
      ).resource,
    ).toMatchObject({ powerState: 'poweredOff', live: null });
    expect(
      expectStatus(
        await stack.request<Accepted>('POST', `/vms/${vmId}/rename`, {
          body: { name: 'renamed' },
          headers: wait(),
        }),
        200,
      ).resource,
    ).toMatchObject({ name: 'renamed' });

    const same = expectStatus(
      await stack.request<Accepted>('POST', `/vms/${vmId}/rename`, { body: { name: 'renamed' } }),
      200,
    );
    expect(same).toMatchObject({ changed: false, taskId: null });

    expectStatus(
      await stack.request('POST', `/vms/${vmId}/convert-to-template`, { headers: wait() }),
      200,
    );
    const powerOnTemplate = await stack.request<{ code: string }>('POST', `/vms/${vmId}/power-on`);
    expect([powerOnTemplate.status, powerOnTemplate.body.code]).toEqual([409, 'VM.IS_TEMPLATE']);
    expectStatus(
      await stack.request('POST', `/vms/${vmId}/convert-to-vm`, { headers: wait() }),
      200,
    );

    expect(
      expectStatus(
        await stack.request<Accepted>('DELETE', `/vms/${vmId}`, { headers: wait() }),
        200,
      ).task?.status,
    ).toBe('succeeded');
    expect((await stack.request('GET', `/vms/${vmId}`)).status).toBe(404);

    const audit = expectStatus(
      await stack.request<
        Page<{ type: string; actor: { id: string; role: string }; occurredAt: string }>
      >('GET', `/vms/${vmId}/audit-log?limit=100`, { role: 'auditor' }),
      200,
    );
    // After each disk change the worker also reports what it measured (block maps): not a state change.
    expect(audit.items.filter((e) => e.type === 'VmBlockMapsMeasured').length).toBeGreaterThan(0);
    expect(audit.items.map((e) => e.type).filter((type) => type !== 'VmBlockMapsMeasured')).toEqual(
      [
        'VmCreated',
        'VmProvisioned',
        'VmPowerChangeRequested',
        'VmPoweredOn',
        'VmPowerChangeRequested',
        'VmSuspended',
        'VmPowerChangeRequested',
        'VmPoweredOff',
        'VmRenamed',
        'VmConvertedToTemplate',
        'TemplateConvertedToVm',
        'VmDeletionRequested',
        'VmDeleted',
      ],
    );
    // Commands carry the caller; what a worker did carries the worker.
    expect(audit.items.filter((e) => e.actor.role === 'admin').map((e) => e.type)).toContain(
      'VmPowerChangeRequested',
    );
    expect(audit.items.filter((e) => e.actor.role === 'worker').map((e) => e.type)).toContain(
      'VmPoweredOn',
    );
    expect(audit.items.every((e) => !Number.isNaN(Date.parse(e.occurredAt)))).toBe(true);
  });

  it('refuses a VM its host cannot run, with every reason', async () => {
    const smallHost = await registerHost(stack, {
      cpuCores: 2,
      memoryBytes: 32 * MiB,
      maxHardwareVersion: 'vmx-13',
    });
    const answer = await stack.request<{ code: string; errors: { code: string }[] }>(
      'POST',
      '/vms',
      { body: vmDefinition(smallHost, datastoreId) },
    );
    expect(answer.status).toBe(422);
    expect(answer.body.code).toBe('VM.PLACEMENT_REFUSED');
    expect(answer.body.errors.map((e) => e.code).sort()).toEqual([
      'HOST.HARDWARE_VERSION_UNSUPPORTED',
      'HOST.NOT_ENOUGH_MEMORY',
    ]);
  });

  it('changes an object only at the version the client saw (If-Match), else 409 and nothing written', async () => {
    const vmId = await createVm(stack, hostId, datastoreId);
    const got = await stack.request<Vm>('GET', `/vms/${vmId}`);
    expect(got.headers.get('etag')).toBe('"1"');
    const stale = await stack.request<{ code: string }>('POST', `/vms/${vmId}/rename`, {
      body: { name: 'a' },
      headers: { 'if-match': '"7"' },
    });
    expect([stale.status, stale.body.code]).toEqual([409, 'STREAM.VERSION_CONFLICT']);
    const fresh = await stack.request<Accepted>('POST', `/vms/${vmId}/rename`, {
      body: { name: 'b' },
      headers: { 'if-match': '"1"' },
    });
    expect(expectStatus(fresh, 202).target.version).toBe(2);
  });

  it('makes a retried command with the same Idempotency-Key a no-op that returns the first answer', async () => {
    const key = `create-${Date.now()}`;
    const body = vmDefinition(hostId, datastoreId, 'idempotent');
    const first = await stack.request<Accepted>('POST', '/vms', {
      body,
      headers: { 'idempotency-key': key },
    });
    const again = await stack.request<Accepted>('POST', '/vms', {
      body,
      headers: { 'idempotency-key': key },
    });
    const concurrent = await Promise.all(
      [1, 2, 3].map(() =>
        stack.request<Accepted>('POST', '/vms', { body, headers: { 'idempotency-key': key } }),
      ),
    );
    expect(first.status).toBe(202);
    for (const answer of [again, ...concurrent]) {
      expect(answer.status).toBe(202);
      expect(answer.body).toEqual(first.body);
      expect(answer.headers.get('idempotent-replayed')).toBe('true');
    }
    const reused = await stack.request<{ code: string }>('POST', '/vms', {
      body: { ...body, name: 'other' },
      headers: { 'idempotency-key': key },
    });
    expect([reused.status, reused.body.code]).toEqual([422, 'IDEMPOTENCY.KEY_REUSED']);
    await stack.eventually(
      async () => (await stack.request('GET', `/vms/${first.body.target.id}`)).status === 200,
    );
    const named = expectStatus(
      await stack.request<Page<Vm>>('GET', `/vms?limit=500`),
      200,
    ).items.filter((vm) => vm.name === 'idempotent');
    expect(named).toHaveLength(1);
  });

  it('lists VMs filtered and in cursor pages, without gaps or repeats', async () => {
    const otherDatastore = await registerDatastore(stack);
    // A worker picks a new datastore up at its next scan and joins the group that serves it.
    await workerServes(stack, otherDatastore);
    const created = [];
    for (let i = 0; i < 7; i++) created.push(await createVm(stack, hostId, otherDatastore));
    expect(
      expectStatus(
        await stack.request<Accepted>('POST', `/vms/${created[0]}/power-on`, { headers: wait() }),
        200,
      ).task?.status,
    ).toBe('succeeded');
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<Vm> = expectStatus(
        await stack.request<Page<Vm>>(
          'GET',
          `/vms?datastoreId=${otherDatastore}&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        ),
        200,
      );
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((vm) => vm.vmId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(created);
    const running = expectStatus(
      await stack.request<Page<Vm>>(
        'GET',
        `/vms?datastoreId=${otherDatastore}&powerState=poweredOn`,
      ),
      200,
    );
    expect(running.items.map((vm) => vm.vmId)).toEqual([created[0]]);
    const hosts = expectStatus(await stack.request<Page<{ hostId: string }>>('GET', '/hosts'), 200);
    expect(hosts.items.map((h) => h.hostId)).toContain(hostId);
    expect(
      expectStatus(
        await stack.request<{ capacityBytes: number }>('GET', `/datastores/${otherDatastore}`),
        200,
      ).capacityBytes,
    ).toBe(64 * GiB);
  });
});
