import { DollyStack } from '@dolly/testing';
import {
  type Accepted,
  MiB,
  registerDatastore,
  registerHost,
  vmDefinition,
  wait,
  workerServes,
} from './support/inventory';
import { qemuIo, reads } from './support/disks';
import { type Pool } from './support/pools';
import { type Problem, type Vm, commandDone, getVm } from './support/vms';

jest.setTimeout(300_000);

let stack: DollyStack;
beforeAll(async () => {
  stack = await DollyStack.start(['api', 'projector']);
  await stack.startApp('worker', 'worker-a');
  await stack.startApp('worker', 'worker-b');
});
afterAll(() => stack?.stop());

const done = (method: string, path: string, body?: unknown) =>
  commandDone(stack, method, path, body);
const pool = async (poolId: string) => (await stack.request<Pool>('GET', `/pools/${poolId}`)).body;

it('recovers a pool whose host is killed: its image is rebuilt on a live worker and each desktop recreated under its name, MAC and user', async () => {
  const hostId = await registerHost(stack);
  const datastoreId = await registerDatastore(stack);
  await workerServes(stack, datastoreId);
  const created = await done(
    'POST',
    '/vms',
    vmDefinition(hostId, datastoreId, 'golden', [{ capacityBytes: 32 * MiB, format: 'thin' }]),
  );
  const running = await done('POST', `/vms/${created.vmId}/power-on`);
  await qemuIo(running.live!.exports[0].uri, 'write -P 0x11 0 4M');
  await done('POST', `/vms/${created.vmId}/power-off`);
  const golden = await done('POST', `/vms/${created.vmId}/snapshots`, { name: 'v1' });

  const answer = await stack.request<Accepted & { resource: Pool & { poolId: string } }>(
    'POST',
    '/pools',
    {
      body: {
        name: 'recovered',
        goldenVmId: golden.vmId,
        snapshotId: golden.currentSnapshotId,
        hostId,
        datastoreId,
        namingPattern: 'rc-{n}',
        maxMachines: 3,
        spareMachines: 1,
        provisioning: 'on-demand',
        assignment: 'dedicated',
      },
      headers: wait(120),
    },
  );
  const poolId = answer.body.resource!.poolId;
  await stack.eventually(async () => (await pool(poolId)).counts.spares === 1, 120_000);
  const ann = (
    await stack.request<Accepted & { result: { vmId: string } }>(
      'POST',
      `/pools/${poolId}/entitlements`,
      { body: { userId: 'ann' } },
    )
  ).body.result;
  const annBefore = await stack.eventually(async () => {
    const vm = await getVm(stack, ann.vmId);
    return vm.live !== null && vm;
  }, 60_000);
  await qemuIo(annBefore.live!.exports[0].uri, 'write -P 0x77 0 1M');
  const before = await stack.eventually(async () => {
    const p = await pool(poolId);
    return p.counts.spares === 1 && p.counts.machines === 2 && p;
  }, 120_000);

  // The worker holding the parent and every machine dies, its storage daemon with it.
  const parent = await getVm(stack, before.image.parents[0].parentVmId);
  const victim = ['worker-a', 'worker-b'].find(
    (instance) => stack.workerId(instance) === parent.live!.workerId,
  )!;
  await stack.kill(victim, 'SIGKILL');

  // Until Kafka drops the dead worker (its session times out) every host still answers.
  const recovered = await stack.eventually(async () => {
    const attempt = await stack.request<Accepted & Problem>('POST', `/pools/${poolId}/recover`, {
      headers: wait(120),
    });
    if (attempt.status === 409 && attempt.body.code === 'POOL.NOTHING_TO_RECOVER') return false;
    return attempt;
  }, 60_000);
  expect(recovered.body.task?.status).toBe('succeeded');

  const after = await stack.eventually(async () => {
    const p = await pool(poolId);
    const annNow = p.machines.find((m) => m.userId === 'ann');
    return (
      p.counts.spares === 1 &&
      p.machines.length === 2 &&
      p.machines.every((m) => m.status === 'ready') &&
      annNow &&
      annNow.vmId !== ann.vmId &&
      p
    );
  }, 120_000);
  const annNow = after.machines.find((m) => m.userId === 'ann')!;
  const annAfter: Vm = await stack.eventually(async () => {
    const vm = await getVm(stack, annNow.vmId);
    return vm.live !== null && vm;
  }, 60_000);
  expect([annAfter.name, annAfter.nics[0].macAddress]).toEqual([
    annBefore.name,
    annBefore.nics[0].macAddress,
  ]);
  expect(annAfter.live!.workerId).not.toBe(parent.live!.workerId);
  // What ann wrote went with the host (crash-consistent, nothing kept); she is back at the image.
  expect(await reads(annAfter.live!.exports[0].uri, 0x11, 0, 4 * MiB)).toBe(true);
  expect(after.image.parents[0].parentVmId).not.toBe(parent.vmId);
  for (const vmId of [ann.vmId, parent.vmId, ...before.machines.map((m) => m.vmId)]) {
    await stack.eventually(
      async () => (await stack.request('GET', `/vms/${vmId}`)).status === 404,
      60_000,
    );
  }
});
