/**
 * npm run bench:pipeline: create-VM commands through the whole pipeline (HTTP → event store →
 * outbox → Kafka → projector → read model), against the raw floor of this machine measured in the
 * same run: PostgreSQL's single-row insert-and-commit rate and Kafka's produce rate.
 *
 * BENCH_COMMANDS (default 20000), BENCH_CONCURRENCY (64), BENCH_HALF_RATE_SECONDS (15).
 * DOLLY_APP_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the apps.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { DollyStack, ensureTemplateDatabase, testKafka } from '@dolly/testing';
import { Client, Pool } from 'pg';
import { ensureServices } from '../tools/dev/services';
import { vmDefinition } from '../test/support/inventory';
import { report, round, summarise } from './support';

const COMMANDS = Number(process.env.BENCH_COMMANDS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const HALF_RATE_SECONDS = Number(process.env.BENCH_HALF_RATE_SECONDS ?? 15);
const FLOOR_SECONDS = 5;
const GiB = 1024 ** 3;

// Idle sockets go after 4 s, before the API's keep-alive timeout (Node's 5 s) closes them: a socket
// the server closes just as it is reused fails with ECONNRESET.
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY, timeout: 4_000 });

function post(
  url: string,
  token: string,
  body: unknown,
): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

/** PostgreSQL floor: single-row INSERTs, each its own committed transaction, at the same concurrency. */
async function postgresFloor(databaseUrl: string): Promise<number> {
  const pool = new Pool({ connectionString: databaseUrl, max: CONCURRENCY });
  await pool.query(
    'CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, payload jsonb NOT NULL)',
  );
  const payload = JSON.stringify({ name: 'x'.repeat(200) });
  let done = 0;
  const until = Date.now() + FLOOR_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        await pool.query('INSERT INTO bench_floor (payload) VALUES ($1)', [payload]);
        done += 1;
      }
    }),
  );
  await pool.query('DROP TABLE bench_floor');
  await pool.end();
  return done / FLOOR_SECONDS;
}

/** Kafka floor: the relay's producer settings (idempotent, acks=all, one request in flight), batches of 500. */
async function kafkaFloor(): Promise<number> {
  const kafka = testKafka();
  const topic = `bench-floor-${randomBytes(4).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const value = JSON.stringify({ name: 'x'.repeat(400) });
  const headers = {
    ce_id: randomBytes(16).toString('hex'),
    ce_type: 'io.dolly.VmCreated.v1',
    ce_source: '/dolly/vm',
  };
  let sent = 0;
  const until = Date.now() + FLOOR_SECONDS * 1000;
  while (Date.now() < until) {
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: 500 }, (_, i) => ({ key: `vm-${sent + i}`, value, headers })),
    });
    sent += 500;
  }
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic] });
  await admin.disconnect();
  return sent / FLOOR_SECONDS;
}

/** Watches the read model for tasks: when the projector notifies, asks which pending tasks arrived. */
class ProjectionClock {
  private readonly pending = new Map<string, number>();
  readonly latenciesMs: number[] = [];
  private client: Client | undefined;
  private checking = false;
  private again = false;

  async start(databaseUrl: string): Promise<void> {
    this.client = new Client({ connectionString: databaseUrl });
    await this.client.connect();
    this.client.on('notification', () => void this.check());
    await this.client.query('LISTEN dolly_projected');
  }

  accepted(taskId: string): void {
    this.pending.set(taskId, performance.now());
  }

  get outstanding(): number {
    return this.pending.size;
  }

  private async check(): Promise<void> {
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    try {
      do {
        this.again = false;
        if (this.pending.size === 0) break;
        const { rows } = await this.client!.query<{ task_id: string }>(
          'SELECT task_id FROM read_model.tasks WHERE task_id = ANY($1::uuid[])',
          [[...this.pending.keys()]],
        );
        const now = performance.now();
        for (const { task_id: taskId } of rows) {
          this.latenciesMs.push(now - this.pending.get(taskId)!);
          this.pending.delete(taskId);
        }
      } while (this.again);
    } finally {
      this.checking = false;
    }
  }

  async drain(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0 && Date.now() < deadline) {
      await this.check();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    await this.client?.end();
  }
}

async function scrape(url: string, token: string): Promise<Map<string, number>> {
  const text = await (
    await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  ).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(dolly_[a-z_]+(?:_sum|_count))(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (match) values.set(match[1], (values.get(match[1]) ?? 0) + Number(match[3]));
  }
  return values;
}

/** The id of what a command made; a refused command stops the bench with the API's answer. */
function accepted(answer: { status: number; body: string }): string {
  if (answer.status !== 202) throw new Error(`The API answered ${answer.status}: ${answer.body}`);
  return (JSON.parse(answer.body) as { target: { id: string } }).target.id;
}

const meanMs = (metrics: Map<string, number>, name: string) =>
  round(((metrics.get(`${name}_sum`) ?? 0) / (metrics.get(`${name}_count`) || 1)) * 1000, 2);

async function main(): Promise<void> {
  const services = await ensureServices((line) => console.log(`[bench] ${line}`));
  process.env.KAFKA_BROKERS = services.kafkaBrokers;
  process.env.DATABASE_URL = services.databaseUrl;
  // DollyStack copies its database from the template the test suites make: make it if missing.
  await ensureTemplateDatabase();
  Object.assign(process.env, services.kafkaEnv);
  console.log(`[bench] floors: ${FLOOR_SECONDS} s each`);
  const stack = await DollyStack.start(['api', 'projector'], { DOLLY_LOG_LEVEL: 'warn' });
  try {
    const pgPerSecond = await postgresFloor(stack.database.url);
    const kafkaPerSecond = await kafkaFloor();
    const token = stack.tokens.admin;
    const hostId = accepted(
      await post(`${stack.apiUrl}/hosts`, token, {
        name: 'bench-host',
        cpuCores: 64,
        memoryBytes: 1024 * GiB,
        maxHardwareVersion: 'vmx-21',
        management: 'managed',
      }),
    );
    const datastoreId = accepted(
      await post(`${stack.apiUrl}/datastores`, token, {
        name: 'bench-ds',
        capacityBytes: 1024 ** 5,
        // Registered only (no worker runs here), inside the stack's datastore root as required.
        folder: stack.datastoreFolder(),
      }),
    );
    const vm = (i: number) => vmDefinition(hostId, datastoreId, `bench-${i}`);
    const clock = new ProjectionClock();
    await clock.start(stack.database.url);
    let failures = 0;
    const send = async (i: number) => {
      const answer = await post(`${stack.apiUrl}/vms`, token, vm(i)).catch((error: Error) => ({
        status: 0,
        body: error.message,
      }));
      if (answer.status !== 202) failures += 1;
      else clock.accepted(JSON.parse(answer.body).taskId);
    };

    // Warm-up: JIT, connection pools, Kafka metadata.
    for (let i = 0; i < 500; i += 50)
      await Promise.all(Array.from({ length: 50 }, (_, j) => send(-1 - i - j)));
    await clock.drain();
    clock.latenciesMs.length = 0;

    console.log(`[bench] max throughput: ${COMMANDS} create-VM commands, ${CONCURRENCY} at a time`);
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < COMMANDS) await send(next++);
      }),
    );
    const acceptedSeconds = (performance.now() - started) / 1000;
    await clock.drain();
    const projectedSeconds = (performance.now() - started) / 1000;
    const commandsPerSecond = COMMANDS / acceptedSeconds;
    const full = summarise(clock.latenciesMs);
    const apiMetrics = await scrape(stack.apiUrl, token);
    const projectorMetrics = await scrape(stack.urlOf('projector'), token);

    const rate = Math.max(1, Math.floor(commandsPerSecond / 2));
    console.log(`[bench] half rate: ${rate} commands/s for ${HALF_RATE_SECONDS} s (open loop)`);
    clock.latenciesMs.length = 0;
    const total = rate * HALF_RATE_SECONDS;
    const halfStarted = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = halfStarted + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      inFlight.push(send(COMMANDS + i));
    }
    await Promise.all(inFlight);
    await clock.drain();
    const half = summarise(clock.latenciesMs);
    await clock.stop();

    const apiMs = meanMs(apiMetrics, 'dolly_http_request_duration_seconds');
    const relayMs = meanMs(projectorMetrics, 'dolly_relay_outbox_wait_seconds');
    const batchMs = meanMs(projectorMetrics, 'dolly_projector_batch_seconds');
    const batches = projectorMetrics.get('dolly_projector_batch_seconds_count') ?? 0;
    const result = {
      parameters: {
        commands: COMMANDS,
        concurrency: CONCURRENCY,
        halfRateSeconds: HALF_RATE_SECONDS,
      },
      floors: {
        postgresInsertCommitsPerSecond: round(pgPerSecond),
        kafkaProducedPerSecond: round(kafkaPerSecond),
      },
      maxThroughput: {
        commandsPerSecond: round(commandsPerSecond),
        ratioToPostgresFloor: round(commandsPerSecond / pgPerSecond, 3),
        ratioToKafkaFloor: round(commandsPerSecond / kafkaPerSecond, 3),
        allProjectedAfterSeconds: round(projectedSeconds, 2),
        acceptedToProjectedMs: {
          p50: round(full.p50),
          p95: round(full.p95),
          p99: round(full.p99),
          max: round(full.max),
        },
        failures,
      },
      halfRate: {
        commandsPerSecond: rate,
        acceptedToProjectedMs: {
          p50: round(half.p50),
          p95: round(half.p95),
          p99: round(half.p99),
          max: round(half.max),
        },
      },
      whereTheTimeGoes: {
        apiRequestMeanMs: apiMs,
        outboxWaitMeanMs: relayMs,
        projectorBatchMeanMs: batchMs,
        projectorBatches: batches,
        note: 'api: HTTP in → committed (load, decide, append) → response; outbox wait: commit → on Kafka; the rest of accepted → projected is Kafka fetch, the projector batch transaction and the NOTIFY.',
      },
      goals: { commandsPerSecond: 2000, halfRateP99Ms: 200 },
    };
    report(
      'pipeline',
      [
        ['PostgreSQL floor: insert+commit/s', round(pgPerSecond), ''],
        ['Kafka floor: produced/s', round(kafkaPerSecond), ''],
        [
          'Dolly: create-VM commands/s',
          round(commandsPerSecond),
          `${round(commandsPerSecond / pgPerSecond, 3)}x PG floor`,
        ],
        [
          '  accepted → projected p50 / p95 / p99 ms',
          `${round(full.p50)} / ${round(full.p95)} / ${round(full.p99)}`,
          'at max throughput',
        ],
        [
          `Half rate (${rate}/s) accepted → projected p50 / p95 / p99 ms`,
          `${round(half.p50)} / ${round(half.p95)} / ${round(half.p99)}`,
          'goal p99 < 200',
        ],
        ['  mean API request ms', apiMs, ''],
        ['  mean outbox wait ms', relayMs, ''],
        ['  mean projector batch ms', batchMs, `${batches} batches`],
      ],
      ['Measure', 'Value', 'Note'],
      result,
    );
  } finally {
    await stack.stop();
    agent.destroy();
    await services.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
