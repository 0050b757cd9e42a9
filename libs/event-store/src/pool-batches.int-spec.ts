/**
 * A pool's decisions are bounded in size: the decision that publishes the image of an up-front
 * pool of 2000 machines forks a batch, not 2000, so the pool's lock (held to commit) is short. The
 * time is printed for the record, not asserted (speed belongs to benchmarks).
 */
import {
  type IdSource,
  POOL_FORKS_UNDER_WAY,
  type StreamKey,
  type Workspace,
  completeJob,
  createPool,
} from '@dolly/domain';
import {
  type TestDatabase,
  createTestDatabase,
  goldenImageEvents,
  testMetadata,
} from '@dolly/testing';
import { v7 as uuidv7 } from 'uuid';
import { PostgresEventStore } from './event-store';
import { decideAcross } from './decide-across';

const GiB = 1024 ** 3;
let db: TestDatabase;
let store: PostgresEventStore;
beforeAll(async () => {
  db = await createTestDatabase(5);
  store = new PostgresEventStore(db.pool);
});
afterAll(() => db.drop());

let macs = 0;
const ids: IdSource = {
  id: () => uuidv7(),
  macAddress: () => {
    const n = ++macs;
    return `02:00:00:${((n >> 16) & 255).toString(16).padStart(2, '0')}:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
  },
};

async function given(
  streamId: string,
  streamType: 'host' | 'datastore' | 'vm',
  events: { type: string; data: unknown }[],
) {
  const appended = await store.appendToStream(
    streamId,
    streamType,
    0,
    events.map((event) => ({
      eventId: uuidv7(),
      ...event,
      metadata: testMetadata(),
      occurredAt: new Date().toISOString(),
    })),
  );
  if (!appended.success) throw new Error(`could not write ${streamId}`);
}

/** A host, a datastore and a golden image with a snapshot, written straight to the store. */
async function goldenImage() {
  const [hostId, datastoreId, goldenVmId, diskId, snapshotId] = [1, 2, 3, 4, 5].map(() => uuidv7());
  const [created, snapped] = [uuidv7(), uuidv7()];
  await given(`host-${hostId}`, 'host', [
    {
      type: 'HostRegistered',
      data: {
        hostId,
        name: 'esx-01',
        cpuCores: 64,
        memoryBytes: 4096 * GiB,
        maxHardwareVersion: 'vmx-19',
        management: 'managed',
      },
    },
  ]);
  await given(`datastore-${datastoreId}`, 'datastore', [
    {
      type: 'DatastoreRegistered',
      data: {
        datastoreId,
        name: 'ds-01',
        capacityBytes: 1024 ** 5,
        folder: '/srv/ds-01',
        overcommitRatio: 4,
        adopted: false,
      },
    },
  ]);
  await given(
    `vm-${goldenVmId}`,
    'vm',
    goldenImageEvents({
      vmId: goldenVmId,
      hostId,
      datastoreId,
      diskId,
      snapshotId,
      biosUuid: uuidv7(),
      createTaskId: created,
      snapshotTaskId: snapped,
    }),
  );
  return { hostId, datastoreId, goldenVmId, snapshotId };
}

const decide = <Result>(
  streams: StreamKey[],
  serializeOn: StreamKey | undefined,
  work: (ws: Workspace) => Result,
) =>
  decideAcross(store, {
    streams,
    serializeOn,
    decide: work,
    metadata: testMetadata(),
    now: new Date().toISOString(),
  });

it('publishes the image of an up-front pool of 2000 machines forking one batch, and holds the pool briefly', async () => {
  const { hostId, datastoreId, goldenVmId, snapshotId } = await goldenImage();
  const poolId = uuidv7();
  const imageTaskId = uuidv7();
  await decide([{ kind: 'vm', id: goldenVmId }], undefined, (ws) =>
    createPool(
      ws,
      {
        poolId,
        taskId: imageTaskId,
        settings: {
          name: 'lab',
          namingPattern: 'lab-{n}',
          maxMachines: 2000,
          spareMachines: 0,
          provisioning: 'up-front',
          assignment: 'floating',
        },
        goldenVmId,
        snapshotId,
        hostIds: [hostId],
        datastoreIds: [datastoreId],
        placement: { kind: 'group', group: 'ds-01' },
      },
      ids,
    ),
  );

  // The worker built the image: the decision that follows is the one that forks.
  const started = process.hrtime.bigint();
  const published = await decide(
    [
      { kind: 'task', id: imageTaskId },
      { kind: 'pool', id: poolId },
    ],
    { kind: 'pool', id: poolId },
    (ws) => {
      ws.decideTask({ type: 'StartTask', data: { taskId: imageTaskId, workerId: 'w1' } });
      const task = ws.task(imageTaskId);
      if (task.status === 'absent' || task.job.kind !== 'pool-image')
        throw new Error('not the image task');
      const job = task.job;
      const disks = (vmId: string) =>
        (ws.vm(vmId) as { disks: { diskId: string }[] }).disks.map((d) => ({
          diskId: d.diskId,
          layerId: `${d.diskId}-top`,
          allocatedBytes: 0,
        }));
      const exported = (imageId: string) => ({
        imageId,
        uri: `nbd+unix:///${imageId}?socket=/run/w1.sock`,
        writable: true,
      });
      completeJob(
        ws,
        {
          taskId: imageTaskId,
          attempt: 1,
          workerId: 'w1',
          outcome: {
            kind: 'pool-image',
            template: disks(job.templateVmId),
            replicas: job.replicas.map((replica) => disks(replica.replicaVmId)),
            parents: job.parents.map((parent) => ({
              disks: disks(parent.parentVmId),
              exports: parent.diskIds.map((id) => exported(id)),
              memoryImage: exported(parent.memory.imageId),
            })),
            workerId: 'w1',
          },
        },
        ids,
      );
    },
  );
  const heldMs = Number(process.hrtime.bigint() - started) / 1e6;
  const forks = [...published.events.values()]
    .flat()
    .filter((event) => event.type === 'PoolMachineRequested');
  console.log(
    `up-front pool of 2000 machines: the image-published decision forked ${forks.length} machines and held the pool's lock for ${heldMs.toFixed(0)} ms`,
  );
  expect(forks).toHaveLength(POOL_FORKS_UNDER_WAY);
}, 600_000);
