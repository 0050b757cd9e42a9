import { PROJECTED_CHANNEL } from '@dolly/read-models';
import { DollyStack, type TestRole } from '@dolly/testing';
import {
  type Accepted,
  expectStatus,
  registerDatastore,
  registerHost,
  vmDefinition,
  wait,
  workerServes,
} from './support/inventory';

/**
 * Bounded work per request, against the real apps: open progress streams and `Prefer: wait`
 * requests are limited per principal and in all, commands are limited per principal, both
 * answering 429 with Retry-After; and waiting costs one query per notification, however many
 * wait. The stack runs with small limits: each principal may hold 15 waits, everyone 40, and a
 * principal may send 10 commands at once, then 1 a second.
 */
const PER_PRINCIPAL = 15;
const TOTAL = 40;
const BURST = 10;

let stack: DollyStack;
let stuckTaskId: string;
/** Queued for good too, for the one test that ends a task (cancels it). */
let spareStuckTaskId: string;
let vmId: string;
let hostId: string;
let datastoreId: string;

type Problem = { status: number; code: string; detail: string };

beforeAll(async () => {
  stack = await DollyStack.start(['api', 'projector', 'worker'], {
    DOLLY_API_MAX_WAITS_PER_PRINCIPAL: String(PER_PRINCIPAL),
    DOLLY_API_MAX_WAITS: String(TOTAL),
    DOLLY_API_COMMANDS_PER_SECOND: '1',
    DOLLY_API_COMMAND_BURST: String(BURST),
  });
  hostId = await registerHost(stack);
  datastoreId = await registerDatastore(stack);
  await workerServes(stack, datastoreId);
  vmId = expectStatus(
    await stack.request<Accepted>('POST', '/vms', {
      body: vmDefinition(hostId, datastoreId),
      headers: wait(),
    }),
    201,
  ).target.id;
  // The only worker is gone: VMs with a disk are placed on it (Kafka counts it a member for a
  // while yet), and their tasks stay queued.
  await stack.kill('worker');
  [stuckTaskId, spareStuckTaskId] = [await queuedForGood(), await queuedForGood()];
}, 180_000);

async function queuedForGood(): Promise<string> {
  return expectStatus(
    await stack.request<Accepted>('POST', '/vms', {
      body: vmDefinition(hostId, datastoreId, undefined, [
        { capacityBytes: 16 * 1024 ** 2, format: 'thin' },
      ]),
    }),
    202,
  ).taskId!;
}
afterAll(() => stack?.stop());

/** An open progress stream, read as it comes. */
interface OpenStream {
  status: number;
  headers: Headers;
  body: unknown;
  /** The events so far (`progress`, `end`). */
  events: string[];
  /** Resolves when the server closed the stream. */
  ended: Promise<void>;
  close: () => void;
}

const streams: OpenStream[] = [];

async function openStream(role: TestRole, taskId = stuckTaskId): Promise<OpenStream> {
  const abort = new AbortController();
  const response = await fetch(`${stack.apiUrl}/tasks/${taskId}/stream`, {
    headers: { authorization: `Bearer ${stack.tokens[role]}` },
    signal: abort.signal,
  });
  const events: string[] = [];
  const close = () => abort.abort();
  if (response.status !== 200) {
    const body = JSON.parse(await response.text()) as unknown;
    return {
      status: response.status,
      headers: response.headers,
      body,
      events,
      ended: Promise.resolve(),
      close,
    };
  }
  const ended = (async () => {
    const decoder = new TextDecoder();
    let text = '';
    try {
      for await (const chunk of response.body!) {
        text += decoder.decode(chunk, { stream: true });
        for (let at = text.indexOf('\n\n'); at >= 0; at = text.indexOf('\n\n')) {
          const event = /^event: (\w+)/m.exec(text.slice(0, at));
          if (event) events.push(event[1]);
          text = text.slice(at + 2);
        }
      }
    } catch {
      // Closed by the test.
    }
  })();
  const open = { status: 200, headers: response.headers, body: undefined, events, ended, close };
  streams.push(open);
  return open;
}

async function closeAll(): Promise<void> {
  for (const stream of streams.splice(0)) stream.close();
  await stack.eventually(async () => (await metric('dolly_api_open_waits')) === 0);
}

async function metric(name: string, labels = ''): Promise<number> {
  const answer = await stack.request<string>('GET', '/metrics');
  const line = answer.body
    .split('\n')
    .find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

function expectTooMany(answer: { status: number; headers: Headers; body: unknown }, code: string) {
  expect(answer.status).toBe(429);
  expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect((answer.body as Problem).code).toBe(code);
}

describe('open progress streams and waiting requests', () => {
  afterAll(closeAll);

  it('refuses a principal past its limit (429, Retry-After) and still serves the others', async () => {
    for (let i = 0; i < PER_PRINCIPAL; i++) expect((await openStream('admin')).status).toBe(200);

    expectTooMany(await openStream('admin'), 'LIMIT.WAITS_PER_PRINCIPAL');
    expect((await openStream('operator')).status).toBe(200);
  });

  it('refuses a Prefer: wait command past the limit before deciding anything', async () => {
    const renamed = await stack.request<Problem>('POST', `/vms/${vmId}/rename`, {
      body: { name: 'never-renamed' },
      headers: wait(5),
    });

    expectTooMany(renamed, 'LIMIT.WAITS_PER_PRINCIPAL');
    const vm = await stack.request<{ name: string }>('GET', `/vms/${vmId}`);
    expect(vm.body.name).not.toBe('never-renamed');
  });

  it('refuses everyone past the limit in all', async () => {
    // admin holds 15 and operator 1: 24 more reach the limit of 40.
    for (let i = 1; i < PER_PRINCIPAL; i++) expect((await openStream('operator')).status).toBe(200);
    for (let i = 0; i < TOTAL - 2 * PER_PRINCIPAL; i++)
      expect((await openStream('auditor')).status).toBe(200);
    expect(await metric('dolly_api_open_waits')).toBe(TOTAL);

    expectTooMany(await openStream('auditor'), 'LIMIT.WAITS');
    expectTooMany(await openStream('host-client'), 'LIMIT.WAITS');
  });

  it('serves a principal again once one of its streams closed', async () => {
    streams.shift()!.close(); // one of admin's
    await stack.eventually(async () => (await metric('dolly_api_open_waits')) === TOTAL - 1);

    expect((await openStream('admin')).status).toBe(200);
  });
});

describe('one query per notification, however many wait', () => {
  afterAll(closeAll);

  /** Sends notifications as the projector does, and counts what the API did for them. */
  async function notify(times: number): Promise<{ notifications: number; queries: number }> {
    const before = {
      notifications: await metric('dolly_api_projection_notifications_total'),
      queries: await metric('dolly_api_wait_queries_total', 'cause="notification"'),
    };
    for (let i = 0; i < times; i++)
      await stack.database.pool.query('SELECT pg_notify($1, $2)', [PROJECTED_CHANNEL, '']);
    const notifications = await stack.eventually(async () => {
      const now = await metric('dolly_api_projection_notifications_total');
      return now - before.notifications >= times && now - before.notifications;
    });
    // Every look a notification started has been counted once it began: read after they settle.
    const { queries } = await stack.eventually(async () => {
      const first = await metric('dolly_api_wait_queries_total', 'cause="notification"');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const second = await metric('dolly_api_wait_queries_total', 'cause="notification"');
      return first === second && { queries: second - before.queries };
    });
    return { notifications, queries };
  }

  it.each([1, TOTAL])('with %i streams open on a task stuck in queued', async (open) => {
    await closeAll();
    const roles: TestRole[] = ['admin', 'operator', 'auditor', 'host-client'];
    for (let i = 0; i < open; i++) expect((await openStream(roles[i % 4])).status).toBe(200);

    const { notifications, queries } = await notify(20);

    expect(queries).toBeGreaterThanOrEqual(1);
    expect(queries).toBeLessThanOrEqual(notifications);
    for (const stream of streams) expect(stream.events).toEqual(['progress']);
  });

  it('ends every stream once the task ends, woken by the notification', async () => {
    const open = [...streams];
    expect(open).toHaveLength(TOTAL);

    expectStatus(await stack.request('POST', `/tasks/${stuckTaskId}/cancel`), 202);

    await Promise.all(open.map((stream) => stream.ended));
    for (const stream of open) expect(stream.events).toEqual(['progress', 'end']);
    await stack.eventually(async () => (await metric('dolly_api_open_waits')) === 0);
  });
});

describe('the listening connection', () => {
  it('is made again when lost, and the streams then look at once: a notification missed meanwhile is not', async () => {
    const another = spareStuckTaskId;
    const stream = await openStream('operator', another);
    expect(stream.status).toBe(200);

    await stack.database.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'dolly-api-projection-listener'`,
    );
    expectStatus(await stack.request('POST', `/tasks/${another}/cancel`), 202);

    await stream.ended;
    expect(stream.events).toEqual(['progress', 'end']);
  });
});

describe('commands per principal', () => {
  it('answers 429 with Retry-After past the burst, serves the others, and the principal again later', async () => {
    let refused: Awaited<ReturnType<typeof stack.request<Problem>>> | undefined;
    let accepted = 0;
    for (let i = 0; i < 3 * BURST && !refused; i++) {
      const answer = await stack.request<Problem>('POST', `/vms/${vmId}/rename`, {
        role: 'operator',
        body: { name: `operator-${i}` },
      });
      if (answer.status === 429) refused = answer;
      else expect(answer.status).toBe(202);
      if (answer.status === 202) accepted++;
    }

    expect(refused).toBeDefined();
    expectTooMany(refused!, 'LIMIT.COMMAND_RATE');
    expect(accepted).toBeGreaterThanOrEqual(BURST);
    expect(
      (await stack.request('POST', `/vms/${vmId}/rename`, { body: { name: 'by-admin' } })).status,
    ).toBe(202);

    await new Promise((resolve) =>
      setTimeout(resolve, Number(refused!.headers.get('retry-after')) * 1000),
    );
    expect(
      (
        await stack.request('POST', `/vms/${vmId}/rename`, {
          role: 'operator',
          body: { name: 'operator-again' },
        })
      ).status,
    ).toBe(202);
  });
});

describe('the OpenAPI document', () => {
  it('documents 429 with Retry-After on commands and on progress streams', async () => {
    type Operation = { responses: Record<string, { headers?: Record<string, unknown> }> };
    const document = (
      await stack.request<{ paths: Record<string, Record<string, Operation>> }>(
        'GET',
        '/openapi.json',
      )
    ).body;

    for (const [path, method] of [
      ['/vms/{vmId}/rename', 'post'],
      ['/tasks/{taskId}/stream', 'get'],
    ]) {
      const refused = document.paths[path][method].responses['429'];
      expect([path, refused?.headers && Object.keys(refused.headers)]).toEqual([
        path,
        ['Retry-After'],
      ]);
    }
  });
});
