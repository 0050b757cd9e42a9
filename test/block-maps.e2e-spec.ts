/**
 * A fragmented disk through the whole pipeline: a 2 GiB disk written every other 64 KiB (data and
 * zero clusters by turns, so no two neighbours make a run) has a block map that, one entry per
 * extent in one event, was larger than the broker takes, and then nothing else was published.
 * Now it goes as runs, in parts of 256 KiB at most, and the read model adds them up again.
 */
import { DollyStack } from '@dolly/testing';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  GiB,
  expectStatus,
  registerDatastore,
  registerHost,
  vmDefinition,
  workerServes,
} from './support/inventory';
import { type Vm, commandDone } from './support/vms';

jest.setTimeout(600_000);

const run = promisify(execFile);
const KiB = 1024;
const CAPACITY = 2 * GiB;
const WRITTEN = CAPACITY / (128 * KiB);

let stack: DollyStack;
let hostId: string;
let datastoreId: string;

beforeAll(async () => {
  stack = await DollyStack.start();
  hostId = await registerHost(stack);
  datastoreId = await registerDatastore(stack);
  await workerServes(stack, datastoreId);
});
afterAll(() => stack?.stop());

/** Every other 64 KiB of the disk written, over its live NBD export: data, then zeros, by turns. */
async function writeEveryOther64KiB(uri: string): Promise<void> {
  const commands = Array.from({ length: WRITTEN }, (_, i) =>
    i % 2 === 0 ? `write -P 0x5a ${i * 128 * KiB} 64k` : `write -z ${i * 128 * KiB} 64k`,
  );
  for (let start = 0; start < commands.length; start += 2048) {
    const chunk = commands.slice(start, start + 2048).flatMap((command) => ['-c', command]);
    const { stdout } = await run('qemu-io', [...chunk, '-f', 'raw', uri], {
      maxBuffer: 64 * 1024 * 1024,
    });
    if (/fail|error/i.test(stdout)) throw new Error(`qemu-io: ${stdout.slice(0, 500)}`);
  }
}

type BlockMap = {
  allocatedBytes: number;
  extents: { offsetBytes: number; lengthBytes: number; zero: boolean; layerId: string }[];
};

it('publishes the block map of a disk written every other 64 KiB in events within the limit, and nothing waits behind it', async () => {
  const created = await commandDone(
    stack,
    'POST',
    '/vms',
    vmDefinition(hostId, datastoreId, 'fragmented', [{ capacityBytes: CAPACITY, format: 'thin' }]),
  );
  const vmId = created.vmId;
  const running = await commandDone<Vm>(stack, 'POST', `/vms/${vmId}/power-on`);
  await writeEveryOther64KiB(running.live!.exports[0].uri);
  await commandDone(stack, 'POST', `/vms/${vmId}/power-off`);
  const diskId = running.disks[0].diskId;

  const map = await stack.eventually(async () => {
    const got = await stack.request<BlockMap>('GET', `/vms/${vmId}/disks/${diskId}/block-map`);
    return got.status === 200 && got.body.extents.length === WRITTEN && got.body;
  }, 120_000);
  expect(map.allocatedBytes).toBe(WRITTEN * 64 * KiB);
  expect(map.extents.map((e) => [e.offsetBytes, e.zero])).toEqual(
    Array.from({ length: WRITTEN }, (_, i) => [i * 128 * KiB, i % 2 === 1]),
  );
  // One entry per extent, as v1 had it, would have been larger than Kafka's 1 MiB.
  expect(Buffer.byteLength(JSON.stringify(map.extents))).toBeGreaterThan(1024 * 1024);

  const { rows } = await stack.database.pool.query<{
    global_position: string;
    schema_version: number;
    data: { disks: { diskId: string; runs: { count: number }[] }[] };
    part: number;
    parts: number;
  }>(
    `SELECT global_position::text AS global_position, schema_version, data,
            (data->>'part')::int AS part, (data->>'parts')::int AS parts
       FROM event_store.events WHERE stream_id = $1 AND type = 'VmBlockMapsMeasured'
        AND data->'disks' @> $2::jsonb ORDER BY stream_version`,
    [`vm-${vmId}`, JSON.stringify([{ diskId }])],
  );
  const last = rows.filter((row) => row.parts > 1).slice(-rows.at(-1)!.parts);
  expect(last.length).toBeGreaterThan(1);
  expect(last.map((row) => row.part)).toEqual(last.map((_, i) => i + 1));
  for (const row of rows) {
    expect(row.schema_version).toBe(2);
    expect(Buffer.byteLength(JSON.stringify(row.data))).toBeLessThanOrEqual(256 * KiB);
  }

  // As of an instant, the map is folded from the same parts: whole once the last is recorded,
  // and as far as the first part goes as of that part.
  const asOf = (position: string) =>
    stack.request<BlockMap>('GET', `/vms/${vmId}/disks/${diskId}/block-map?asOf=${position}`);
  const whole = await asOf(last.at(-1)!.global_position);
  expect(whole.status).toBe(200);
  expect(whole.body).toEqual(map);
  const firstPart = await asOf(last[0].global_position);
  const firstPartExtents = last[0].data.disks
    .find((disk) => disk.diskId === diskId)!
    .runs.reduce((sum, run) => sum + run.count, 0);
  expect(firstPartExtents).toBeLessThan(WRITTEN);
  expect(firstPart.body.extents).toEqual(map.extents.slice(0, firstPartExtents));
  const before = await asOf(String(Number(rows[0].global_position) - 1));
  expect(before.status).toBe(404);

  // The pipeline is not stuck: a later command still reaches the read model.
  expectStatus(
    await stack.request('POST', `/vms/${vmId}/rename`, {
      body: { name: 'still-flowing' },
      headers: { prefer: 'wait=60' },
    }),
    200,
  );
  const renamed = await stack.request<Vm>('GET', `/vms/${vmId}`);
  expect(renamed.body.name).toBe('still-flowing');
});
