import { DollyStack } from '@dolly/testing';
import {
  datastoreFolderOf,
  type Accepted,
  MiB,
  expectStatus,
  registerDatastore,
  registerHost,
  vmDefinition,
  wait,
  workerServes,
} from './support/inventory';
import { images, layerFile, leftovers, qemuIo, sameContent } from './support/disks';

jest.setTimeout(300_000);

type Task = {
  status: string;
  attempt: number;
  workerId: string | null;
  error: { code: string } | null;
};
type Vm = {
  vmId: string;
  lifecycle: string;
  disks: { layerId: string }[];
  live: { exports: { uri: string }[] } | null;
};

let stack: DollyStack;
beforeAll(async () => {
  stack = await DollyStack.start(['api', 'projector']);
  await stack.startApp('worker', 'worker-a');
  await stack.startApp('worker', 'worker-b');
});
afterAll(() => stack?.stop());

async function done<T>(method: string, path: string, body?: unknown): Promise<T> {
  const answer = await stack.request<Accepted>(method, path, { body, headers: wait(120) });
  if (answer.body.task?.status !== 'succeeded')
    throw new Error(`${method} ${path}: ${JSON.stringify(answer.body)}`);
  return answer.body.resource as T;
}

it('finishes a 1 GiB full clone once when the worker doing it is killed with SIGKILL, and leaves nothing to repair', async () => {
  const hostId = await registerHost(stack);
  const datastoreId = await registerDatastore(stack);
  const folder = await datastoreFolderOf(stack, datastoreId);
  await workerServes(stack, datastoreId);

  // A 1 GiB VM, half allocated: every other 1 MiB holds data.
  const source = await done<Vm>(
    'POST',
    '/vms',
    vmDefinition(hostId, datastoreId, 'big', [{ capacityBytes: 1024 * MiB, format: 'thin' }]),
  );
  const running = await done<Vm>('POST', `/vms/${source.vmId}/power-on`);
  const writes = Array.from({ length: 512 }, (_, i) => `write -P ${(i % 250) + 1} ${i * 2}M 1M`);
  for (let i = 0; i < writes.length; i += 64)
    await qemuIo(running.live!.exports[0].uri, ...writes.slice(i, i + 64));
  await done('POST', `/vms/${source.vmId}/power-off`);

  const started = expectStatus(
    await stack.request<Accepted>('POST', `/vms/${source.vmId}/clone`, {
      body: { name: 'survivor', format: 'thin' },
    }),
    202,
  );
  const taskPath = `/tasks/${started.taskId}`;
  const first = await stack.eventually(async () => {
    const task = (await stack.request<Task>('GET', taskPath)).body;
    return task.status === 'running' && task.workerId !== null && task;
  }, 60_000);
  const victim = ['worker-a', 'worker-b'].find(
    (instance) => stack.workerId(instance) === first.workerId,
  )!;
  await stack.kill(victim, 'SIGKILL');

  const ended = await stack.eventually(async () => {
    const task = (await stack.request<Task>('GET', taskPath)).body;
    return ['succeeded', 'failed', 'cancelled'].includes(task.status) && task;
  }, 180_000);
  expect(ended).toMatchObject({ status: 'succeeded', attempt: 2, error: null });
  expect(ended.workerId).not.toBe(first.workerId);

  // Exactly one clone: one VmCloned, one ready VM, the same content as its source.
  const { rows } = await stack.database.pool.query(
    `SELECT count(*)::int AS n FROM event_store.events WHERE stream_id = $1 AND type = 'VmCloned'`,
    [`vm-${started.target.id}`],
  );
  expect(rows[0].n).toBe(1);
  const clone = await stack.eventually(async () => {
    const vm = (await stack.request<Vm>('GET', `/vms/${started.target.id}`)).body;
    return vm.lifecycle === 'ready' && vm;
  });
  const sourceNow = (await stack.request<Vm>('GET', `/vms/${source.vmId}`)).body;
  expect(
    await sameContent(
      layerFile(folder, sourceNow.disks[0].layerId),
      layerFile(folder, clone.disks[0].layerId),
    ),
  ).toBe(true);

  // No duplicate disk, no orphan: the images are the source's and the clone's, and no temporary file is left.
  expect(leftovers(folder)).toEqual([]);
  expect(images(folder).sort()).toEqual(
    [`${sourceNow.disks[0].layerId}.qcow2`, `${clone.disks[0].layerId}.qcow2`].sort(),
  );

  // The killed worker comes back; its start-up check finds nothing to repair.
  await stack.startApp('worker', victim);
  const check = await stack.eventually(async () => {
    const health = await fetch(`${stack.urlOf(victim)}/health`, {
      headers: { authorization: `Bearer ${stack.tokens.admin}` },
    });
    const body = (await health.json()) as {
      checks: Record<
        string,
        { details?: { startupCheck?: { clean: boolean; findings: unknown[] } } }
      >;
    };
    return body.checks['disk-engine']?.details?.startupCheck;
  }, 60_000);
  expect(check.findings).toEqual([]);
  expect(check.clean).toBe(true);
});
