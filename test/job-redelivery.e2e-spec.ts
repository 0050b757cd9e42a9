import { jobsTopic, workerGroupId } from '@dolly/contracts';
import { DollyStack, testKafka } from '@dolly/testing';
import {
  type Accepted,
  GiB,
  expectStatus,
  registerDatastore,
  registerHost,
  vmDefinition,
  workerServes,
} from './support/inventory';

/**
 * Nothing stays queued for good when Kafka loses a job on its way to the workers (a client that
 * skipped a message, an offset committed past it in a rebalance): the projector sends a job no
 * worker has started again, from the store, and a worker does it. Here the worker group's offset
 * is moved past the job while its only worker is down, as such a fault leaves it.
 */

jest.setTimeout(180_000);

let stack: DollyStack;

beforeAll(async () => {
  stack = await DollyStack.start(['api', 'projector', 'worker'], {
    DOLLY_JOB_REDELIVER_AFTER_MS: '2000',
  });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

it('sends a job that no worker started again, and a worker does it', async () => {
  const hostId = await registerHost(stack);
  const datastoreId = await registerDatastore(stack);
  await workerServes(stack, datastoreId);
  const { rows } = await stack.database.pool.query<{ worker_group: string }>(
    'SELECT worker_group FROM read_model.workers',
  );
  const groupId = workerGroupId(stack.kafkaPrefix, rows[0].worker_group);

  // The worker dies; Kafka still counts it a member for a while, so the job is placed on its group.
  await stack.kill('worker', 'SIGKILL');
  const answer = await stack.request<Accepted>('POST', '/vms', {
    body: vmDefinition(hostId, datastoreId, undefined, [{ capacityBytes: GiB, format: 'thin' }]),
  });
  const { taskId } = expectStatus(answer, 202);

  // Once Kafka has dropped the dead member, the group's offsets move past the job: lost to it.
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await stack.eventually(async () => {
      const [group] = (await admin.describeGroups([groupId])).groups;
      return group.members.length === 0;
    }, 60_000);
    const topic = jobsTopic(stack.kafkaPrefix);
    await stack.eventually(async () => {
      const ends = await admin.fetchTopicOffsets(topic);
      const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
      // The job is in the topic (the relay sent it) before the offsets move past it.
      const queuedSent = await stack.database.pool.query(
        'SELECT 1 FROM event_store.outbox o JOIN event_store.events e USING (global_position) WHERE e.stream_id = $1',
        [`task-${taskId}`],
      );
      if (queuedSent.rowCount !== 0) return false;
      await admin.setOffsets({
        groupId,
        topic,
        partitions: ends.map(({ partition, offset }) => ({ partition, offset })),
      });
      return committed.length > 0;
    }, 30_000);
  } finally {
    await admin.disconnect();
  }

  await stack.startApp('worker');
  const task = await stack.eventually(async () => {
    const { rows: tasks } = await stack.database.pool.query<{ status: string; attempt: number }>(
      'SELECT status, attempt FROM read_model.tasks WHERE task_id = $1',
      [taskId],
    );
    return tasks[0]?.status === 'succeeded' && tasks[0];
  }, 60_000);
  expect(task).toEqual({ status: 'succeeded', attempt: 1 });
});
