import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  DEAD_LETTER_HEADERS,
  type DeadLetterReason,
  EVENT_TOPIC_PARTITIONS,
  PROJECTOR_GROUP,
  type RecordedEvent,
  deadLetterTopic,
  eventTopic,
  fromKafkaMessage,
  jobsTopic,
  progressTopic,
  toKafkaMessage,
  workerGroupId,
} from '@dolly/contracts';
import type { TaskQueued } from '@dolly/domain';
import { PostgresEventStore } from '@dolly/event-store';
import {
  type ConsumedKafkaMessage,
  DollyStack,
  differencesFromARebuild,
  readMessages,
  testKafka,
  testMetadata,
} from '@dolly/testing';
import type { Kafka, Message, Producer } from 'kafkajs';
import { v7 as uuidv7 } from 'uuid';
import { fingerprint, images } from './support/disks';
import {
  type Accepted,
  MiB,
  createVm,
  datastoreFolderOf,
  expectStatus,
  registerDatastore,
  registerHost,
  vmDefinition,
  wait,
  workerServes,
} from './support/inventory';
import { commandDone, getVm } from './support/vms';

/**
 * Anyone who can write to the broker can produce to Dolly's topics. These tests are that
 * attacker, with a kafkajs client of their own: they read what is on the topics and produce
 * forgeries, then check that the consumers applied and ran only what the event store holds.
 */
jest.setTimeout(240_000);

let stack: DollyStack;
let kafka: Kafka;
let producer: Producer;
let store: PostgresEventStore;

beforeAll(async () => {
  stack = await DollyStack.start(['api', 'projector', 'worker']);
  kafka = testKafka();
  producer = kafka.producer();
  await producer.connect();
  store = new PostgresEventStore(stack.database.pool);
}, 180_000);
afterAll(async () => {
  await producer?.disconnect();
  await stack?.stop();
});

/** A Kafka message exactly as the relay would publish the event. */
const asProduced = (event: RecordedEvent): Message => toKafkaMessage(event);

const header = (message: ConsumedKafkaMessage, name: string) => message.headers[name]?.toString();

interface Forgery {
  message: Message;
  reason: DeadLetterReason;
}

/** Produces each message to a topic, one after the other; returns where each landed. */
async function produce(
  topic: string,
  messages: Record<string, Message | Forgery>,
): Promise<Record<string, { partition: number; offset: string }>> {
  const landed: Record<string, { partition: number; offset: string }> = {};
  for (const [name, given] of Object.entries(messages)) {
    const message = 'reason' in given ? given.message : given;
    const [sent] = await producer.send({ topic, acks: -1, messages: [message] });
    landed[name] = { partition: sent.partition, offset: sent.baseOffset! };
  }
  return landed;
}

/** The dead letters a consumer group wrote about a topic, once every place given has one. */
async function deadLettersOf(
  consumer: string,
  topic: string,
  places: { partition: number; offset: string }[],
): Promise<Map<string, ConsumedKafkaMessage>> {
  const key = (partition: number | string, offset: string) => `${partition}@${offset}`;
  const mine = (letters: readonly ConsumedKafkaMessage[]) =>
    new Map(
      letters
        .filter(
          (letter) =>
            header(letter, DEAD_LETTER_HEADERS.consumer) === consumer &&
            header(letter, DEAD_LETTER_HEADERS.topic) === topic,
        )
        .map((letter) => [
          key(
            header(letter, DEAD_LETTER_HEADERS.partition)!,
            header(letter, DEAD_LETTER_HEADERS.offset)!,
          ),
          letter,
        ]),
    );
  const wanted = places.map((place) => key(place.partition, place.offset));
  const letters = await readMessages(
    kafka,
    [deadLetterTopic(stack.kafkaPrefix)],
    (so) => wanted.every((place) => mine(so).has(place)),
    { timeoutMs: 60_000 },
  );
  return mine(letters);
}

/** What an app says on an operations endpoint (/metrics, /health), asked with the admin token. */
async function operations(instance: string, path: string): Promise<string> {
  const response = await fetch(`${stack.urlOf(instance)}${path}`, {
    headers: { authorization: `Bearer ${stack.tokens.admin}` },
  });
  return response.text();
}

/** A counter's values by its labels, as the app's /metrics shows them. */
async function counted(instance: string, metric: string): Promise<Record<string, string>[]> {
  const lines = (await operations(instance, '/metrics')).split('\n');
  return lines.flatMap((line) => {
    const match = new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (!match) return [];
    const labels = Object.fromEntries(
      [...match[1].matchAll(/(\w+)="([^"]*)"/g)].map(([, name, value]) => [name, value]),
    );
    return [{ ...labels, value: match[2] }];
  });
}

interface DeadLetterHealth {
  status: string;
  details: {
    count: number;
    last: { reason: string; detail: string; topic: string; partition: number; offset: string }[];
  };
}

async function deadLetterHealth(instance: string): Promise<DeadLetterHealth> {
  const report = JSON.parse(await operations(instance, '/health')) as {
    checks: Record<string, DeadLetterHealth>;
  };
  return report.checks['dead-letters'];
}

describe('forged events on a VM’s topic', () => {
  it('change nothing: the projector applies only what the store holds, dead-letters, counts and shows each forgery, and goes on', async () => {
    const prefix = stack.kafkaPrefix;
    const hostId = await registerHost(stack);
    const datastoreId = await registerDatastore(stack);
    const vmId = await createVm(stack, hostId, datastoreId);
    const streamId = `vm-${vmId}`;
    const topic = eventTopic('vm', prefix);

    // What anyone reading the topic sees: the VM's first event.
    const onTopic = await readMessages(kafka, [topic], (so) =>
      so.some((m) => m.key?.toString() === streamId),
    );
    const seen = fromKafkaMessage(onTopic.find((m) => m.key?.toString() === streamId)!);

    // The relay runs in the projector: while it is down the next genuine event waits in the outbox,
    // so the forgeries reach the VM's partition before it.
    await stack.kill('projector');
    const forge = async () => {
      expectStatus(
        await stack.request('POST', `/vms/${vmId}/rename`, { body: { name: 'genuine-1' } }),
        202,
      );
      // Someone who read the genuine rename on the broker ahead of the projector (a lagging
      // projector, a copy put on another partition) knows its id and position: the test reads it.
      const genuineRename = (await store.readStream(streamId))[1];

      const renamed = (name: string, streamVersion: number): RecordedEvent => ({
        ...seen,
        eventId: uuidv7(),
        type: 'VmRenamed',
        schemaVersion: 1,
        streamVersion,
        globalPosition: String(BigInt(seen.globalPosition) + BigInt(streamVersion)),
        data: { vmId, name, previousName: (seen.data as { name: string }).name },
        metadata: {
          ...seen.metadata,
          actor: { id: 'mallory', role: 'admin' },
          command: 'RenameVm',
        },
      });
      const withoutId = asProduced(renamed('forged-c', 3));
      delete (withoutId.headers as Record<string, string>).ce_id;
      const forgeries: Record<string, Forgery> = {
        'a: the next version, a fresh id': {
          message: asProduced(renamed('forged-a', 2)),
          reason: 'EVENT.NOT_AS_STORED',
        },
        'b: data the schema refuses': {
          message: asProduced({
            ...renamed('x', 3),
            data: { vmId, name: '', previousName: 'x', admin: true },
          }),
          reason: 'EVENT.INVALID_DATA',
        },
        'c: garbage, no headers': {
          message: { key: streamId, value: randomBytes(64) },
          reason: 'EVENT.MALFORMED',
        },
        'c: no ce_id': { message: withoutId, reason: 'EVENT.MALFORMED' },
        'd: the genuine rename with other data': {
          message: asProduced({
            ...genuineRename,
            data: { ...(genuineRename.data as object), name: 'forged-d' },
          }),
          reason: 'EVENT.NOT_AS_STORED',
        },
        'e: far ahead of the stream (the gap would be filled from the store)': {
          message: asProduced(renamed('forged-e', 50)),
          reason: 'EVENT.NOT_IN_STORE',
        },
      };
      const landed = await produce(topic, forgeries);
      const forgedIds = Object.values(forgeries)
        .map(({ message }) => (message.headers as Record<string, string> | undefined)?.ce_id)
        .filter((id) => id && id !== genuineRename.eventId);

      return { forgeries, landed, forgedIds };
    };
    let forged: Awaited<ReturnType<typeof forge>>;
    try {
      forged = await forge();
    } finally {
      await stack.startApp('projector');
    }
    const { forgeries, landed, forgedIds } = forged;
    // Genuine commands after the forgeries are applied: the partition did not stop.
    await stack
      .eventually(async () => {
        const { name } = await getVm(stack, vmId);
        if (name !== 'genuine-1') throw new Error(`the VM is named ${name}`);
        return true;
      }, 60_000)
      .catch((error: Error) => {
        throw new Error(`${error.message}\n${stack.logs('projector').slice(-3).join('\n')}`);
      });
    const second = await stack.request<Accepted>('POST', `/vms/${vmId}/rename`, {
      body: { name: 'genuine-2' },
      headers: wait(60),
    });
    expect(second.body.projected).toBe(true);

    // The read model shows only the genuine changes, and the audit log only the stored events.
    const vm = expectStatus(
      await stack.request<{ name: string; version: number }>('GET', `/vms/${vmId}`),
      200,
    );
    expect([vm.name, vm.version]).toEqual(['genuine-2', 3]);
    const stored = await store.readStream(streamId);
    expect(stored.map((event) => [event.type, (event.data as { name: string }).name])).toEqual([
      ['VmCreated', (seen.data as { name: string }).name],
      ['VmRenamed', 'genuine-1'],
      ['VmRenamed', 'genuine-2'],
    ]);
    const audit = await stack.database.pool.query<{ event_id: string; actor_id: string }>(
      'SELECT event_id, actor_id FROM read_model.audit_log WHERE stream_id = $1 ORDER BY stream_version',
      [streamId],
    );
    expect(audit.rows.map((row) => row.event_id)).toEqual(stored.map((event) => event.eventId));
    expect(audit.rows.map((row) => row.actor_id)).not.toContain('mallory');
    // The store is unchanged by the forgeries.
    const forgedInStore = await stack.database.pool.query(
      'SELECT event_id FROM event_store.events WHERE event_id = ANY($1::uuid[])',
      [forgedIds],
    );
    expect(forgedInStore.rows).toEqual([]);

    // Each forgery is in the dead-letter topic, as it came, with its reason.
    const letters = await deadLettersOf(
      `${prefix}${PROJECTOR_GROUP}`,
      topic,
      Object.values(landed),
    );
    const found = Object.fromEntries(
      Object.entries(landed).map(([name, { partition, offset }]) => {
        const letter = letters.get(`${partition}@${offset}`)!;
        const original = forgeries[name].message;
        return [
          name,
          {
            reason: header(letter, DEAD_LETTER_HEADERS.reason),
            sameValue: Buffer.from(original.value!).equals(letter.value!),
            sameKey: letter.key?.toString() === streamId,
            sameId:
              header(letter, 'ce_id') ===
              (original.headers as Record<string, string> | undefined)?.ce_id,
          },
        ];
      }),
    );
    expect(found).toEqual(
      Object.fromEntries(
        Object.entries(forgeries).map(([name, { reason }]) => [
          name,
          { reason, sameValue: true, sameKey: true, sameId: true },
        ]),
      ),
    );
    expect(
      header(
        letters.get(
          `${landed['b: data the schema refuses'].partition}@${landed['b: data the schema refuses'].offset}`,
        )!,
        DEAD_LETTER_HEADERS.detail,
      ),
    ).toContain('data/name');

    // The metric counts them, by reason and topic.
    const byReason = Object.fromEntries(
      (await counted('projector', 'dolly_dead_letters_total'))
        .filter((sample) => sample.topic === topic)
        .map((sample) => [sample.reason, Number(sample.value)]),
    );
    expect(byReason).toEqual({
      'EVENT.NOT_AS_STORED': 2,
      'EVENT.INVALID_DATA': 1,
      'EVENT.MALFORMED': 2,
      'EVENT.NOT_IN_STORE': 1,
    });

    // /health names them, and stays up: forgeries must not take the projector out of service.
    const health = await deadLetterHealth('projector');
    expect(health.status).toBe('up');
    expect(health.details.count).toBeGreaterThanOrEqual(6);
    expect(health.details.last).toEqual(
      expect.arrayContaining(
        Object.entries(landed).map(([name, place]) =>
          expect.objectContaining({ topic, ...place, reason: forgeries[name].reason }),
        ),
      ),
    );

    // Nothing forged reached the read models: they equal a rebuild from the store, row for row.
    expect(await differencesFromARebuild(stack.database.pool)).toEqual([]);
  });
});

describe('a forged job on the task topic', () => {
  it('is not run: the disks it names are untouched; it is dead-lettered, counted and shown, and the worker goes on taking jobs', async () => {
    const prefix = stack.kafkaPrefix;
    const hostId = await registerHost(stack);
    const datastoreId = await registerDatastore(stack);
    const folder = await datastoreFolderOf(stack, datastoreId);
    await workerServes(stack, datastoreId);
    const created = expectStatus(
      await stack.request<Accepted>('POST', '/vms', {
        body: vmDefinition(hostId, datastoreId, undefined, [
          { capacityBytes: 32 * MiB, format: 'thin' },
        ]),
        headers: wait(120),
      }),
      201,
    );
    expect(created.task?.status).toBe('succeeded');
    const vmId = created.target.id;
    const taskId = created.taskId!;
    const vm = await getVm(stack, vmId);
    const files = images(folder);
    expect(files).toHaveLength(1);
    const before = files.map((file) => fingerprint(join(folder, file)));
    const taskEventsBefore = (await store.readStream(`task-${taskId}`)).length;

    // The VM's job, as anyone reading the task topic sees it.
    const taskTopic = jobsTopic(prefix);
    const isQueued = (m: ConsumedKafkaMessage) =>
      m.key?.toString() === `task-${taskId}` && header(m, 'ce_type')?.includes('TaskQueued');
    const queued = fromKafkaMessage(
      (await readMessages(kafka, [taskTopic], (so) => so.some(isQueued))).find(isQueued)!,
    ) as RecordedEvent<'TaskQueued', TaskQueued['data']>;
    const deleteTheDisks = {
      kind: 'delete-vm',
      vmId,
      datastoreId,
      diskIds: vm.disks.map((disk) => disk.diskId),
      memoryImageId: null,
      live: false,
      linkedTo: null,
      poolId: null,
    };
    const forgedTaskId = uuidv7();
    const forgeries: Record<string, Forgery> = {
      'a new task that deletes the VM’s disks': {
        message: asProduced({
          ...queued,
          eventId: uuidv7(),
          streamId: `task-${forgedTaskId}`,
          globalPosition: String(BigInt(queued.globalPosition) + 1000n),
          data: {
            ...queued.data,
            taskId: forgedTaskId,
            operation: 'DeleteVm',
            job: deleteTheDisks,
          },
        } as RecordedEvent),
        reason: 'EVENT.NOT_IN_STORE',
      },
      'the VM’s own job, made a delete': {
        message: asProduced({
          ...queued,
          data: { ...queued.data, operation: 'DeleteVm', job: deleteTheDisks },
        } as RecordedEvent),
        reason: 'EVENT.NOT_AS_STORED',
      },
    };
    const landed = await produce(taskTopic, forgeries);
    // Garbage in front of whatever job comes next, on every partition.
    for (let partition = 0; partition < EVENT_TOPIC_PARTITIONS; partition++)
      await producer.send({ topic: taskTopic, messages: [{ partition, value: randomBytes(32) }] });

    // The worker goes on taking jobs: another VM's disk is made.
    const next = await commandDone(
      stack,
      'POST',
      '/vms',
      vmDefinition(hostId, datastoreId, undefined, [{ capacityBytes: 32 * MiB, format: 'thin' }]),
    );
    expect(next.disks).toHaveLength(1);

    // Each forged job is dead-lettered by the worker's group (the one its placement names).
    if (queued.data.placement.kind !== 'group') throw new Error('expected a group placement');
    const letters = await deadLettersOf(
      workerGroupId(prefix, queued.data.placement.group),
      taskTopic,
      Object.values(landed),
    );
    expect(
      Object.fromEntries(
        Object.entries(landed).map(([name, { partition, offset }]) => [
          name,
          header(letters.get(`${partition}@${offset}`)!, DEAD_LETTER_HEADERS.reason),
        ]),
      ),
    ).toEqual(Object.fromEntries(Object.entries(forgeries).map(([name, f]) => [name, f.reason])));

    // Nothing was run: the disk files are as they were, the VM stands, no task was started.
    expect(files.map((file) => fingerprint(join(folder, file)))).toEqual(before);
    expect(await getVm(stack, vmId)).toMatchObject({ lifecycle: 'ready', disks: vm.disks });
    expect(await store.readStream(`task-${forgedTaskId}`)).toEqual([]);
    expect(await store.readStream(`task-${taskId}`)).toHaveLength(taskEventsBefore);
    expect((await stack.request('GET', `/tasks/${forgedTaskId}`)).status).toBe(404);

    const byReason = Object.fromEntries(
      (await counted('worker', 'dolly_dead_letters_total'))
        .filter((sample) => sample.topic === taskTopic)
        .map((sample) => [sample.reason, Number(sample.value)]),
    );
    expect(byReason).toEqual({ 'EVENT.NOT_IN_STORE': 1, 'EVENT.NOT_AS_STORED': 1 });
    const health = await deadLetterHealth('worker');
    expect(health.status).toBe('up');
    expect(health.details.last).toEqual(
      expect.arrayContaining(
        Object.entries(landed).map(([name, place]) =>
          expect.objectContaining({ topic: taskTopic, ...place, reason: forgeries[name].reason }),
        ),
      ),
    );
  });
});

describe('progress messages', () => {
  it('are kept only for the running attempt of a task; what is not a progress report is dead-lettered', async () => {
    const prefix = stack.kafkaPrefix;
    // A task that a worker of no one's runs (the test plays that worker): queued and started.
    const taskId = uuidv7();
    const vmId = uuidv7();
    const appended = await store.appendToStream(`task-${taskId}`, 'task', 0, [
      {
        eventId: uuidv7(),
        type: 'TaskQueued',
        data: {
          taskId,
          operation: 'CreateVm',
          target: { type: 'vm', id: vmId },
          job: { kind: 'create-disks', vmId, datastoreId: uuidv7(), disks: [] },
          placement: { kind: 'worker', workerId: 'nobody' },
        },
        metadata: testMetadata({ taskId }),
        occurredAt: new Date().toISOString(),
      },
      {
        eventId: uuidv7(),
        type: 'TaskStarted',
        data: { taskId, attempt: 1, workerId: 'nobody' },
        metadata: testMetadata({ taskId }),
        occurredAt: new Date().toISOString(),
      },
    ]);
    expect(appended.success).toBe(true);

    // All on the task's key, so on one partition, in this order: when the last report is kept,
    // every one before it was seen.
    const report = (change: Record<string, unknown> = {}) => ({
      key: taskId,
      value: JSON.stringify({
        taskId,
        attempt: 1,
        phase: 'copy',
        doneBytes: 1,
        totalBytes: 4,
        reportedAt: new Date().toISOString(),
        ...change,
      }),
    });
    const notCurrent = async () =>
      Number(
        (await counted('projector', 'dolly_projector_progress_dropped_total')).find(
          (sample) => sample.reason === 'PROGRESS.NOT_CURRENT',
        )?.value ?? 0,
      );
    const notCurrentBefore = await notCurrent();
    const unknownTask = uuidv7();
    const topic = progressTopic(prefix);
    const notProgress = {
      'not JSON': { message: { key: taskId, value: '{"taskId":' }, reason: 'PROGRESS.MALFORMED' },
      'dated in 2100': {
        message: report({ reportedAt: '2100-01-01T00:00:00.000Z' }),
        reason: 'PROGRESS.FROM_THE_FUTURE',
      },
    } satisfies Record<string, Forgery>;
    const landed = await produce(topic, notProgress);
    const soon = new Date(Date.now() + 1_000).toISOString();
    await produce(topic, {
      'a task that does not exist': report({ taskId: unknownTask, reportedAt: soon }),
      'an attempt that is not running': report({ attempt: 2, reportedAt: soon }),
    });
    await producer.send({ topic, messages: [report({ doneBytes: 3 })] });

    // The running attempt's report is kept, and nothing else: the newest report wins, so the one
    // from 2100 would have hidden every later one, and the others were dated later than it.
    const progressOf = async (id: string) =>
      (
        await stack.database.pool.query(
          'SELECT attempt, done::int AS "doneBytes" FROM read_model.task_progress WHERE task_id = $1',
          [id],
        )
      ).rows;
    await stack.eventually(async () => {
      const [row] = await progressOf(taskId);
      if (row?.doneBytes !== 3) throw new Error(`the task's progress is ${JSON.stringify(row)}`);
      return true;
    }, 30_000);
    expect(await progressOf(taskId)).toEqual([{ attempt: 1, doneBytes: 3 }]);
    expect(await progressOf(unknownTask)).toEqual([]);

    // Reports of no running attempt happen (a worker's last report after its task ended): they
    // are counted, not dead-lettered (a worker of the other tests may add its own late ones). What
    // is not a progress report at all is dead-lettered.
    expect((await notCurrent()) - notCurrentBefore).toBeGreaterThanOrEqual(2);
    const letters = await deadLettersOf(`${prefix}dolly-progress`, topic, Object.values(landed));
    expect(
      Object.fromEntries(
        Object.entries(landed).map(([name, { partition, offset }]) => [
          name,
          header(letters.get(`${partition}@${offset}`)!, DEAD_LETTER_HEADERS.reason),
        ]),
      ),
    ).toEqual({ 'not JSON': 'PROGRESS.MALFORMED', 'dated in 2100': 'PROGRESS.FROM_THE_FUTURE' });
    const byReason = Object.fromEntries(
      (await counted('projector', 'dolly_dead_letters_total'))
        .filter((sample) => sample.topic === topic)
        .map((sample) => [sample.reason, Number(sample.value)]),
    );
    expect(byReason).toEqual({ 'PROGRESS.MALFORMED': 1, 'PROGRESS.FROM_THE_FUTURE': 1 });
  });
});
