import { type RecordedEvent, jobsTopic, toKafkaMessage } from '@dolly/contracts';
import type { TaskState } from '@dolly/domain';
import type { EachMessagePayload, Kafka } from 'kafkajs';
import { AttemptWatch, stopReason } from './attempt-watch';

const TASK = '0190f3a0-0000-7000-8000-00000000f001';
const TOPIC = jobsTopic('');

/** A Kafka whose one consumer is driven by the spec: it fetches, and delivers what it is given. */
function fakeKafka() {
  const listeners: (() => void)[] = [];
  let eachMessage: ((payload: EachMessagePayload) => Promise<void>) | undefined;
  const consumer = {
    events: { FETCH: 'fetch', GROUP_JOIN: 'join', CRASH: 'crash' },
    on: (event: string, listener: () => void) => event === 'fetch' && listeners.push(listener),
    connect: async () => undefined,
    subscribe: async () => undefined,
    run: async (options: { eachMessage: typeof eachMessage }) => {
      eachMessage = options.eachMessage;
    },
    disconnect: async () => undefined,
  };
  return {
    kafka: { consumer: () => consumer } as unknown as Kafka,
    fetched: () => listeners.forEach((listener) => listener()),
    deliver: (event: RecordedEvent) => {
      const message = toKafkaMessage(event);
      return eachMessage!({
        topic: TOPIC,
        partition: 0,
        message: {
          key: Buffer.from(message.key),
          value: Buffer.from(message.value),
          headers: Object.fromEntries(
            Object.entries(message.headers).map(([name, value]) => [name, Buffer.from(value)]),
          ),
          offset: '0',
          timestamp: '0',
          attributes: 0,
        },
      } as unknown as EachMessagePayload);
    },
  };
}

let version = 0;
function taskEvent(type: string, data: Record<string, unknown>): RecordedEvent {
  version++;
  return {
    eventId: `0190f3a0-0000-7000-8000-${String(version).padStart(12, '0')}`,
    type,
    schemaVersion: 1,
    streamId: `task-${TASK}`,
    streamType: 'task',
    streamVersion: version,
    globalPosition: String(version),
    occurredAt: '2026-11-26T10:00:00.000Z',
    data: { taskId: TASK, ...data },
    metadata: {
      correlationId: '0190f3a0-0000-7000-8000-00000000c001',
      causationId: null,
      actor: { id: 'worker-1', role: 'worker' },
      taskId: TASK,
      command: null,
    },
  };
}

const running = (attempt: number, cancelRequested = false) =>
  ({ status: 'running', taskId: TASK, attempt, cancelRequested }) as TaskState;

describe('stopReason', () => {
  it('lets the running attempt go on, and stops it when cancelled or replaced', () => {
    expect(stopReason(running(2), 2)).toBeNull();
    expect(stopReason(running(2, true), 2)).toBe('cancelled');
    expect(stopReason(running(3), 2)).toBe('superseded');
    expect(stopReason({ ...running(2), status: 'failed' } as TaskState, 2)).toBe('superseded');
  });
});

describe('AttemptWatch', () => {
  let store: TaskState;
  let reads: number;
  /** How the store answers a read: now, by default. */
  let answer: () => Promise<TaskState>;
  let watch: AttemptWatch;
  let broker: ReturnType<typeof fakeKafka>;

  beforeEach(async () => {
    jest.useFakeTimers();
    store = running(1);
    reads = 0;
    answer = async () => store;
    broker = fakeKafka();
    watch = new AttemptWatch(broker.kafka, {
      topic: TOPIC,
      kafkaPrefix: '',
      groupId: 'watch',
      log: { warn: () => undefined, error: () => undefined },
      readTask: () => {
        reads++;
        return answer();
      },
    });
    await watch.start();
  });

  afterEach(async () => {
    await watch.stop();
    jest.useRealTimers();
  });

  /** Time passes while the consumer fetches (or not). */
  async function pass(ms: number, { fetching }: { fetching: boolean }) {
    for (let spent = 0; spent < ms; spent += 100) {
      if (fetching) broker.fetched();
      await jest.advanceTimersByTimeAsync(100);
    }
  }

  async function runningAttempt(attempt: number, { startSeen }: { startSeen: boolean }) {
    const watched = watch.follow(TASK);
    const controller = new AbortController();
    if (startSeen) await broker.deliver(taskEvent('TaskStarted', { attempt, workerId: 'w' }));
    watched.running(attempt, controller);
    return { watched, controller };
  }

  it('stops an attempt when the topic brings its cancel request, without asking the store before', async () => {
    const { controller } = await runningAttempt(1, { startSeen: true });
    await pass(2_000, { fetching: true });
    expect(reads).toBe(0);

    store = running(1, true);
    await broker.deliver(taskEvent('TaskCancelRequested', {}));

    expect(controller.signal.reason).toBe('cancelled');
    expect(reads).toBe(1);
  });

  it('stops an attempt a newer one replaced', async () => {
    const { controller } = await runningAttempt(1, { startSeen: true });
    store = running(2);
    await broker.deliver(taskEvent('TaskStarted', { attempt: 2, workerId: 'other' }));
    expect(controller.signal.reason).toBe('superseded');
  });

  it('asks the store at once when news came before the attempt was known', async () => {
    const watched = watch.follow(TASK);
    await broker.deliver(taskEvent('TaskStarted', { attempt: 1, workerId: 'w' }));
    store = running(1, true);
    await broker.deliver(taskEvent('TaskCancelRequested', {}));
    const controller = new AbortController();
    watched.running(1, controller);
    await jest.advanceTimersByTimeAsync(0);
    expect(controller.signal.reason).toBe('cancelled');
  });

  it("asks the store every half second until the attempt's own start came through the topic", async () => {
    const { controller } = await runningAttempt(1, { startSeen: false });
    await pass(1_000, { fetching: true });
    expect(reads).toBe(2);
    store = running(1, true);
    await pass(500, { fetching: true });
    expect(controller.signal.reason).toBe('cancelled');
  });

  it('asks the store every half second while the consumer fetches nothing (the broker is down)', async () => {
    const { controller } = await runningAttempt(1, { startSeen: true });
    await pass(3_000, { fetching: false });
    store = running(1, true);
    await pass(1_000, { fetching: false });
    expect(controller.signal.reason).toBe('cancelled');
  });

  it('still asks the store now and then while the topic is quiet (the relay may be down)', async () => {
    const { controller } = await runningAttempt(1, { startSeen: true });
    store = running(1, true);
    await pass(4_000, { fetching: true });
    expect(controller.signal.aborted).toBe(false);
    await pass(1_500, { fetching: true });
    expect(controller.signal.reason).toBe('cancelled');
  });

  it('asks again when news comes while it asks (the answer may predate the news)', async () => {
    const { controller } = await runningAttempt(1, { startSeen: true });
    let answerLate!: (state: TaskState) => void;
    answer = () => new Promise((resolve) => (answerLate = resolve));
    const asking = broker.deliver(taskEvent('TaskCancelRequested', {}));
    answer = async () => store;
    store = running(1, true);
    await broker.deliver(taskEvent('TaskCancelRequested', {}));
    answerLate(running(1));
    await asking;
    expect(reads).toBe(2);
    expect(controller.signal.reason).toBe('cancelled');
  });

  it('forgets an attempt once it ended', async () => {
    const { watched } = await runningAttempt(1, { startSeen: false });
    watched.end();
    await broker.deliver(taskEvent('TaskCancelRequested', {}));
    await pass(6_000, { fetching: false });
    expect(reads).toBe(0);
  });
});
