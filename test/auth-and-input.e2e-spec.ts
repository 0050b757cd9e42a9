import { DollyStack, type TestRole } from '@dolly/testing';
import { createVm, registerDatastore, registerHost, vmDefinition } from './support/inventory';

let stack: DollyStack;
let hostId: string;
let datastoreId: string;
let vmId: string;

beforeAll(async () => {
  stack = await DollyStack.start(['api', 'projector']);
  hostId = await registerHost(stack);
  datastoreId = await registerDatastore(stack);
  vmId = await createVm(stack, hostId, datastoreId);
}, 120_000);
afterAll(() => stack?.stop());

type Problem = {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  errors?: { pointer: string; code: string; detail: string }[];
};

describe('authentication', () => {
  it.each([
    ['no token', {}],
    ['a wrong token', { authorization: 'Bearer not-a-token-we-issued' }],
    ['another scheme', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
  ])('answers 401 problem+json to %s, on every endpoint', async (_case, headers) => {
    for (const [method, path] of [
      ['GET', '/vms'],
      ['GET', `/vms/${vmId}`],
      ['POST', '/vms'],
      ['GET', '/tasks'],
      ['GET', '/hosts'],
      ['GET', '/health'],
      ['GET', '/metrics'],
      ['GET', `/vms/${vmId}/audit-log`],
    ]) {
      const answer = await stack.request<Problem>(method, path, {
        role: null,
        headers,
        body: method === 'POST' ? {} : undefined,
      });
      expect([path, answer.status]).toEqual([path, 401]);
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(answer.headers.get('www-authenticate')).toBe('Bearer');
      expect(answer.body.code).toBe('AUTH.UNAUTHENTICATED');
    }
  });
});

describe('roles', () => {
  const allowed: Record<string, TestRole[]> = {
    'register a host': ['admin'],
    'create a VM': ['admin', 'operator'],
    'power on a VM': ['admin', 'operator', 'host-client'],
    'read VMs': ['admin', 'operator', 'auditor', 'host-client'],
    'read the audit log': ['admin', 'operator', 'auditor'],
  };
  const attempts: Record<string, (stack: DollyStack, role: TestRole) => Promise<number>> = {
    'register a host': async (s, role) =>
      (
        await s.request('POST', '/hosts', {
          role,
          body: {
            name: 'h',
            cpuCores: 1,
            memoryBytes: 1024 ** 3,
            maxHardwareVersion: 'vmx-19',
            management: 'managed',
          },
        })
      ).status,
    'create a VM': async (s, role) =>
      (await s.request('POST', '/vms', { role, body: vmDefinition(hostId, datastoreId) })).status,
    'power on a VM': async (s, role) => {
      const target = await createVm(s, hostId, datastoreId);
      return (await s.request('POST', `/vms/${target}/power-on`, { role })).status;
    },
    'read VMs': async (s, role) => (await s.request('GET', '/vms', { role })).status,
    'read the audit log': async (s, role) =>
      (await s.request('GET', `/vms/${vmId}/audit-log`, { role })).status,
  };
  const roles: TestRole[] = ['admin', 'operator', 'auditor', 'host-client'];

  it.each(Object.keys(allowed))(
    '%s: allowed roles succeed, every other role gets 403 with the reason',
    async (action) => {
      for (const role of roles) {
        const status = await attempts[action](stack, role);
        if (allowed[action].includes(role))
          // Allowed means past the role check: a power-on may still be refused later (no worker runs here).
          expect([action, role, status !== 401 && status !== 403]).toEqual([action, role, true]);
        else expect([action, role, status]).toEqual([action, role, 403]);
      }
    },
  );

  it('tells a host client why it may not do management-plane work', async () => {
    const answer = await stack.request<Problem>('POST', '/vms', {
      role: 'host-client',
      body: vmDefinition(hostId, datastoreId),
    });
    expect(answer.status).toBe(403);
    expect(answer.body.code).toBe('AUTH.ROLE_NOT_ALLOWED');
    expect(answer.body.detail).toMatch(/host client runs power operations only/);
  });

  it('publishes its contracts and liveness without credentials', async () => {
    for (const path of [
      '/openapi.json',
      '/asyncapi.json',
      '/schemas/events/VmCreated/1',
      '/health/live',
    ]) {
      expect([path, (await stack.request('GET', path, { role: null })).status]).toEqual([
        path,
        200,
      ]);
    }
  });
});

describe('bad input', () => {
  it('lists every wrong field at once, unknown fields included, and writes nothing', async () => {
    const before = (
      await stack.database.pool.query('SELECT count(*)::int AS n FROM event_store.events')
    ).rows[0].n;
    const answer = await stack.request<Problem>('POST', '/vms', {
      body: {
        name: 'a/b',
        folder: 'relative',
        hostId: 'not-a-uuid',
        hardware: {
          vcpus: 0,
          memoryBytes: 12345,
          hardwareVersion: 'nineteen',
          guestOs: '',
          sockets: 2,
        },
        disks: [{ capacityBytes: 100, format: 'sparse' }],
        nics: [{ network: 'VM Network', macAddress: 'ZZ:00:00:00:00:00' }],
        color: 'blue',
      },
    });
    expect(answer.status).toBe(400);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(answer.body.code).toBe('REQUEST.INVALID');
    const pointers = new Set(answer.body.errors!.map((e) => e.pointer));
    for (const pointer of [
      '/name',
      '/folder',
      '/hostId',
      '/datastoreId',
      '/hardware/vcpus',
      '/hardware/memoryBytes',
      '/hardware/hardwareVersion',
      '/hardware/guestOs',
      '/hardware/sockets',
      '/disks/0/capacityBytes',
      '/disks/0/format',
      '/nics/0/macAddress',
      '/color',
    ]) {
      expect(pointers).toContain(pointer);
    }
    expect(answer.body.errors!.find((e) => e.pointer === '/color')!.code).toBe(
      'REQUEST.UNKNOWN_FIELD',
    );
    const after = (
      await stack.database.pool.query('SELECT count(*)::int AS n FROM event_store.events')
    ).rows[0].n;
    expect(after).toBe(before);
  });

  it('refuses an oversized body with 413', async () => {
    const answer = await stack.request<Problem>('POST', '/vms', {
      rawBody: JSON.stringify({ name: 'x'.repeat(200_000) }),
      headers: { 'content-type': 'application/json' },
    });
    expect([answer.status, answer.body.code]).toEqual([413, 'REQUEST.TOO_LARGE']);
  });

  it('refuses a body that is not JSON with 415, and malformed JSON with 400', async () => {
    const form = await stack.request<Problem>('POST', '/vms', {
      rawBody: 'name=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect([form.status, form.body.code]).toEqual([415, 'REQUEST.UNSUPPORTED_MEDIA_TYPE']);
    const text = await stack.request<Problem>('POST', '/vms', {
      rawBody: '{"name":',
      headers: { 'content-type': 'application/json' },
    });
    expect([text.status, text.body.code]).toEqual([400, 'REQUEST.MALFORMED_JSON']);
  });

  it('refuses malformed ids, cursors, filters and headers with the field named', async () => {
    const badId = await stack.request<Problem>('GET', '/vms/12');
    expect([badId.status, badId.body.errors![0].pointer]).toEqual([400, '/path/vmId']);
    const badQuery = await stack.request<Problem>('GET', '/vms?powerState=on&limit=0&colour=red');
    expect(badQuery.status).toBe(400);
    expect(new Set(badQuery.body.errors!.map((e) => e.pointer))).toEqual(
      new Set(['/query/powerState', '/query/limit', '/query/colour']),
    );
    const badCursor = await stack.request<Problem>('GET', '/vms?cursor=nonsense');
    expect([badCursor.status, badCursor.body.code]).toEqual([400, 'REQUEST.BAD_CURSOR']);
    const badKey = await stack.request<Problem>('POST', `/vms/${vmId}/power-on`, {
      headers: { 'idempotency-key': 'has spaces in it' },
    });
    expect([badKey.status, badKey.body.code]).toEqual([400, 'REQUEST.BAD_IDEMPOTENCY_KEY']);
    const missing = await stack.request<Problem>(
      'POST',
      `/vms/0190f3a0-0000-7000-8000-000000000999/power-on`,
    );
    expect([missing.status, missing.body.code]).toEqual([404, 'VM.NOT_FOUND']);
  });
});

describe('database roles', () => {
  // Every e2e suite runs the apps this way, so each proves the grants suffice for what it does.
  it('runs each app as its own role, none a superuser', async () => {
    const { rows } = await stack.database.pool.query(
      `SELECT DISTINCT a.application_name AS app, a.usename AS role, r.rolsuper AS superuser
         FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid
        WHERE a.datname = current_database() AND a.application_name LIKE 'dolly-%' ORDER BY 1`,
    );

    expect(rows).toEqual([
      { app: 'dolly-api', role: 'dolly_api_login', superuser: false },
      { app: 'dolly-api-projection-listener', role: 'dolly_api_login', superuser: false },
      { app: 'dolly-projector', role: 'dolly_projector_login', superuser: false },
      { app: 'dolly-relay-lock', role: 'dolly_projector_login', superuser: false },
    ]);
  });
});
