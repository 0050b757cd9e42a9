/**
 * The projector killed mid-stream, and Kafka stopped and restarted mid-run.
 *
 * "Kafka stopped and restarted mid-run" used to time out now and then after the broker came back
 * (issue 12). Its log capture (DOLLY_TEST_LOG_LEVEL=info; pipelineState prints the outbox and the
 * projector's log) shows what the relay does then: its first look at what arrived goes through a
 * throw-away consumer that often crashes as it joins (the group coordinator still loading), and
 * neither that consumer's disconnect nor any other kafkajs call of the relay had a bound, so one
 * that never settled (kafkajs calls can hang after a broker restart) left the relay waiting for
 * good, without a log line, while the outbox filled. Each Kafka step of the relay now fails after
 * kafkaStepTimeoutMs and the tail reader lets a consumer go after 10 s. The hang itself did not
 * show in 10 runs before the change (the cause is read from the capture and the code).
 * Held since: 20 runs in a row under CPU load (two busy loops on the 2 cores, beside other suites;
 * load average 7-8), 20 passed, 2026-12-03.
 */
import { allEventTopics } from '@dolly/contracts';
import {
  DollyStack,
  IsolatedKafka,
  consumeEvents,
  differencesFromARebuild,
  testKafka,
} from '@dolly/testing';
import {
  type Accepted,
  expectStatus,
  registerDatastore,
  registerHost,
  vmDefinition,
} from './support/inventory';

async function projectedEverything(stack: DollyStack): Promise<boolean> {
  const { rows } = await stack.database.pool.query(
    `SELECT (SELECT count(*) FROM event_store.events)::int AS stored, (SELECT count(*) FROM read_model.audit_log)::int AS projected`,
  );
  return rows[0].stored === rows[0].projected;
}

/** Where the pipeline stands, for a failure to say: outbox, store, read model, projector's log. */
async function pipelineState(stack: DollyStack): Promise<string> {
  const { rows } = await stack.database.pool.query(
    `SELECT (SELECT count(*) FROM event_store.outbox)::int AS outbox,
            (SELECT count(*) FROM event_store.events)::int AS stored,
            (SELECT count(*) FROM read_model.audit_log)::int AS projected`,
  );
  return [
    `outbox ${rows[0].outbox}, stored ${rows[0].stored}, projected ${rows[0].projected}`,
    'projector log (last lines):',
    ...stack.logs('projector').slice(-40),
  ].join('\n');
}

/** Commands in flight from several clients at once: create VMs and rename each four times. */
async function workload(
  stack: DollyStack,
  hostId: string,
  datastoreId: string,
  vms: number,
  concurrency = 8,
): Promise<string[]> {
  const created: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < vms) {
        next += 1;
        const vmId = expectStatus(
          await stack.request<Accepted>('POST', '/vms', {
            body: vmDefinition(hostId, datastoreId),
          }),
          202,
        ).target.id;
        created.push(vmId);
        for (const name of ['a', 'b', 'c', 'd']) {
          expectStatus(
            await stack.request('POST', `/vms/${vmId}/rename`, {
              body: { name: `${name}-${vmId.slice(-6)}` },
            }),
            202,
          );
        }
      }
    }),
  );
  return created;
}

async function expectReadModelsEqualARebuild(stack: DollyStack): Promise<void> {
  expect(await differencesFromARebuild(stack.database.pool)).toEqual([]);
}

describe('the projector killed with SIGKILL mid-stream', () => {
  let stack: DollyStack;
  beforeAll(async () => {
    stack = await DollyStack.start(['api', 'projector']);
  }, 120_000);
  afterAll(() => stack?.stop());

  it('resumes where it committed, applies nothing twice, and its read models equal a rebuild from the store', async () => {
    const hostId = await registerHost(stack);
    const datastoreId = await registerDatastore(stack);
    const running = workload(stack, hostId, datastoreId, 100);
    // Kill it while events stream in, twice, and bring it back each time.
    for (let round = 0; round < 2; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await stack.kill('projector', 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 500));
      await stack.startApp('projector');
    }
    const vmIds = await running;
    await stack.eventually(() => projectedEverything(stack), 60_000);

    const { rows } = await stack.database.pool.query(
      `SELECT count(*)::int AS n FROM read_model.vms WHERE vm_id = ANY($1) AND name LIKE 'd-%' AND version = 5`,
      [vmIds],
    );
    expect(rows[0].n).toBe(vmIds.length);
    await expectReadModelsEqualARebuild(stack);
  }, 180_000);
});

describe('Kafka stopped and restarted mid-run', () => {
  let broker: IsolatedKafka;
  let stack: DollyStack;
  beforeAll(async () => {
    broker = await IsolatedKafka.start();
    stack = await DollyStack.start(['api', 'projector'], broker.env);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    await broker?.destroy();
  }, 60_000);

  it('loses nothing, duplicates nothing and keeps each VM in order', async () => {
    const hostId = await registerHost(stack);
    const datastoreId = await registerDatastore(stack);
    const before = await workload(stack, hostId, datastoreId, 10);
    await stack.eventually(() => projectedEverything(stack), 60_000);

    await broker.stop();
    // Commands keep succeeding: their events wait in the outbox.
    const during = await workload(stack, hostId, datastoreId, 10);
    const { rows } = await stack.database.pool.query(
      'SELECT count(*)::int AS n FROM event_store.outbox',
    );
    expect(rows[0].n).toBeGreaterThan(0);

    await broker.start();
    await stack
      .eventually(() => projectedEverything(stack), 120_000)
      .catch(async (error: Error) => {
        throw new Error(`${error.message}\n${await pipelineState(stack)}`);
      });
    const outbox = await stack.database.pool.query(
      'SELECT count(*)::int AS n FROM event_store.outbox',
    );
    expect(outbox.rows[0].n).toBe(0);

    // Every VM went through its five events in order: no gap filled from the store, no repeat.
    for (const vmId of [...before, ...during]) {
      const vm = expectStatus(
        await stack.request<{ name: string; version: number }>('GET', `/vms/${vmId}`),
        200,
      );
      expect(vm).toMatchObject({ name: `d-${vmId.slice(-6)}`, version: 5 });
    }
    // Kafka itself holds each event once, each VM's in order.
    const stored = (
      await stack.database.pool.query('SELECT count(*)::int AS n FROM event_store.events')
    ).rows[0].n;
    const onKafka = await consumeEvents(
      testKafka(broker.env),
      allEventTopics(stack.kafkaPrefix),
      stored,
    );
    expect(new Set(onKafka.map((e) => e.eventId)).size).toBe(stored);
    expect(onKafka).toHaveLength(stored);
    for (const vmId of [...before, ...during]) {
      expect(
        onKafka.filter((e) => e.streamId === `vm-${vmId}`).map((e) => e.streamVersion),
      ).toEqual([1, 2, 3, 4, 5]);
    }
    expect(stack.logs('projector').some((line) => line.includes('filled a stream gap'))).toBe(
      false,
    );
    await expectReadModelsEqualARebuild(stack);
  }, 300_000);
});
