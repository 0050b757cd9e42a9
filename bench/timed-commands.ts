/**
 * Commands sent through the whole of Dolly and timed to the end a user sees (the task succeeded
 * and the read model shows the change), with where the time went (from the task's events), and
 * the summaries the benchmarks print: latencies, host load, timelines. Shared by the benchmarks
 * that drive the API (clones, instant clones).
 */
import { taskStreamId } from '@dolly/domain';
import { DollyStack, type HttpAnswer, ensureTemplateDatabase } from '@dolly/testing';
import { ensureServices } from '../tools/dev/services';
import { type Accepted, wait } from '../test/support/inventory';
import { type Vm } from '../test/support/vms';
import { type BenchWorker } from './bench-workers';
import { type HostLoad } from './host-load';
import { traceChildren } from './process-trace';
import { round, summarise } from './support';

/** Longest Prefer: wait the API grants (MAX_WAIT_SECONDS); longer work is polled. */
export const WAIT_SECONDS = 60;

/** Epoch milliseconds with sub-millisecond precision, comparable with PostgreSQL's clock. */
export const now = () => performance.timeOrigin + performance.now();
export const log = (line: string) =>
  console.log(`[bench +${(performance.now() / 1000).toFixed(0)} s] ${line}`);
export const median = (samples: number[]) => summarise(samples).p50;
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Where one task's time went, from its events' commit times (event_store.events.recorded_at). */
export interface Timeline {
  /** Command sent → TaskQueued committed: the API decided and appended. */
  acceptMs: number;
  /** TaskQueued → TaskStarted: outbox relay, Kafka, the worker's consumer, its start event. */
  toWorkerMs: number;
  /** TaskStarted → TaskSucceeded: the disk work, the block map and space measured, the report. */
  workMs: number;
  /** TaskSucceeded → answer: relay, projector, the API's waiter, the response. */
  toReadModelMs: number;
}

export interface Done {
  taskId: string;
  vmId: string;
  layerId: string | null;
  workerId: string;
  totalMs: number;
  timeline: Timeline;
  /** When the worker started and ended the task (epoch ms), to place a process trace. */
  workerStartedAtMs: number;
  /** The VM as the read model showed it at the end (none after a delete). */
  vm: Vm | undefined;
}

/** When a VM counts as done: ready, unless the caller asks for more (e.g. running and exported). */
export type VmDone = (vm: Vm) => boolean;
const isReady: VmDone = (vm) => vm.lifecycle === 'ready';

export class Bench {
  /** Commands answered 409 although no If-Match was sent, and sent again (see `command`). */
  readonly conflicts: Record<string, number> = {};

  resent(): number {
    return Object.values(this.conflicts).reduce((a, b) => a + b, 0);
  }

  constructor(readonly stack: DollyStack) {}

  /**
   * Sends a command and returns once its task succeeded and the VM it made or changed reads as
   * done (`until`, by default ready): Prefer: wait answers then; past the API's longest wait, the
   * task and VM are polled. A 409 version conflict is sent again after a short random pause, as a
   * client would: the API decides again itself only a few times, and concurrent clones of one
   * source all append to its stream. The time counts from the first send.
   */
  async command(method: string, path: string, body?: unknown, until = isReady): Promise<Done> {
    const sent = now();
    const answer = await this.send(method, path, body);
    if (![200, 201, 202].includes(answer.status) || !answer.body.taskId)
      throw new Error(`${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
    const taskId = answer.body.taskId;
    const vmId = answer.body.target.id;
    let task = answer.body.task;
    let vm = answer.body.resource as Vm | undefined;
    while (!task || task.status === 'queued' || task.status === 'running') {
      await sleep(50);
      task = (await this.stack.request<Accepted['task']>('GET', `/tasks/${taskId}`)).body;
    }
    if (task.status !== 'succeeded')
      throw new Error(`${method} ${path}: task ${taskId} ${JSON.stringify(task)}`);
    while (method !== 'DELETE' && !(vm && until(vm))) {
      if (vm) await sleep(50);
      vm = (await this.stack.request<Vm>('GET', `/vms/${vmId}`)).body;
    }
    const answered = now();
    const { rows } = await this.stack.database.pool.query<{
      type: string;
      at: number;
      worker: string | null;
    }>(
      `SELECT type, extract(epoch FROM recorded_at) * 1000 AS at, data->>'workerId' AS worker
         FROM event_store.events WHERE stream_id = $1 ORDER BY stream_version`,
      [taskStreamId(taskId)],
    );
    const at = (type: string) => Number(rows.find((row) => row.type === type)?.at ?? NaN);
    return {
      taskId,
      vmId,
      layerId: vm?.disks?.[0]?.layerId ?? null,
      workerId: rows.find((row) => row.type === 'TaskStarted')?.worker ?? 'none',
      totalMs: answered - sent,
      timeline: {
        acceptMs: at('TaskQueued') - sent,
        toWorkerMs: at('TaskStarted') - at('TaskQueued'),
        workMs: at('TaskSucceeded') - at('TaskStarted'),
        toReadModelMs: answered - at('TaskSucceeded'),
      },
      workerStartedAtMs: at('TaskStarted'),
      vm,
    };
  }

  /**
   * Sends a command (waiting for its effect, unless `headers` say otherwise), and sends it again
   * after a 409 version conflict, counted in `conflicts`.
   */
  async send<Body = Accepted>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = wait(WAIT_SECONDS),
  ): Promise<HttpAnswer<Body & { code?: string }>> {
    const once = () =>
      this.stack.request<Body & { code?: string }>(method, path, { body, headers });
    let answer = await once();
    while (answer.status === 409 && answer.body.code === 'STREAM.VERSION_CONFLICT') {
      const kind = `${method} ${path.replace(/[0-9a-f-]{36}/g, '{id}')}`;
      this.conflicts[kind] = (this.conflicts[kind] ?? 0) + 1;
      await sleep(10 + Math.random() * 40);
      answer = await once();
    }
    return answer;
  }

  async vm(vmId: string): Promise<Vm> {
    return (await this.stack.request<Vm>('GET', `/vms/${vmId}`)).body;
  }

  /**
   * Runs one command while tracing the QEMU processes the worker runs for it: which, and when,
   * from the worker's start of the task. Not a timed sample (the tracing polls /proc).
   */
  async traced(worker: BenchWorker, run: () => Promise<Done>) {
    const { result, processes } = await traceChildren(worker.pid, run);
    const from = (ms: number) => round(ms - result.workerStartedAtMs);
    return {
      vmId: result.vmId,
      workMs: round(result.timeline.workMs),
      processes: processes
        // The storage daemon lives on; a process caught before its exec shows as setpriv.
        .filter((p) => !p.command.startsWith('qemu-storage-daemon'))
        .sort((a, b) => a.firstSeenMs - b.firstSeenMs)
        .map((p) => ({
          command: p.command,
          seenFromMs: from(p.firstSeenMs),
          seenUntilMs: from(p.lastSeenMs),
          cpuMsWhenLastSeen: p.cpuMs,
        })),
    };
  }

  /** Removes clones between runs (not timed), so every run starts on the same datastores. */
  async deleteAll(vmIds: string[]): Promise<void> {
    for (const vmId of vmIds) await this.command('DELETE', `/vms/${vmId}`);
  }
}

/** Runs `count` items with one closed loop per lane; lane i takes items i, i+n, i+2n...: item k always meets lane k mod n. */
export async function lanes<T>(
  n: number,
  count: number,
  item: (k: number) => Promise<T>,
): Promise<{ results: T[]; wallMs: number }> {
  const results: T[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: n }, async (_, lane) => {
      for (let k = lane; k < count; k += n) results[k] = await item(k);
    }),
  );
  return { results, wallMs: performance.now() - start };
}

/** A command's result, or why it failed: runs that go on past a failure report both. */
export type Settled = { done: Done } | { error: string };
export const settle = (run: Promise<Done>): Promise<Settled> =>
  run.then(
    (done) => ({ done }),
    (error: Error) => ({ error: error.message }),
  );

/** The stable code of a failure (the task's, or the HTTP problem's), else its first words. */
export const failureCode = (message: string) =>
  /"code":"([A-Z_.]+)"/.exec(message)?.[1] ?? message.slice(0, 200);

export function split(results: Settled[]) {
  const failed = results.flatMap((r) => ('error' in r ? [r.error] : []));
  return {
    done: results.flatMap((r) => ('done' in r ? [r.done] : [])),
    failed: failed.length,
    failureCodes: failed.map(failureCode),
  };
}

export function medianTimeline(done: Done[]): Record<keyof Timeline, number> {
  const pick = (key: keyof Timeline) => round(median(done.map((d) => d.timeline[key])));
  return {
    acceptMs: pick('acceptMs'),
    toWorkerMs: pick('toWorkerMs'),
    workMs: pick('workMs'),
    toReadModelMs: pick('toReadModelMs'),
  };
}

const percent = (share: number | null) => (share === null ? null : round(share * 100));
export const loadSummary = (load: HostLoad) => ({
  cpuBusyPercent: percent(load.cpuBusy),
  cpuIowaitPercent: percent(load.cpuIowait),
  diskUtilisationPercent: percent(load.diskUtilisation),
  diskWrittenBytes: load.diskWrittenBytes,
  processTreeCpuMs: load.processTreeCpuMs === null ? null : round(load.processTreeCpuMs),
  processTreeCpuMsByLabel:
    load.processTreeCpuMsByLabel &&
    Object.fromEntries(
      Object.entries(load.processTreeCpuMsByLabel).map(([label, ms]) => [label, round(ms)]),
    ),
});
export const latency = (samples: number[]) => {
  const s = summarise(samples);
  return {
    p50: round(s.p50, 2),
    p99: round(s.p99, 2),
    max: round(s.max, 2),
    mean: round(s.mean, 2),
  };
};

/**
 * Runs a benchmark against the whole of Dolly: PostgreSQL and Kafka found or started, the api
 * and projector started as processes, and the workers the benchmark adds stopped after it (with
 * their last log lines when it failed). The process exits 1 on failure.
 */
export function runBenchmark(
  measure: (stack: DollyStack, workers: BenchWorker[]) => Promise<void>,
): void {
  const run = async () => {
    const services = await ensureServices(log);
    try {
      Object.assign(process.env, services.kafkaEnv);
      process.env.DATABASE_URL = services.databaseUrl;
      // DollyStack copies its database from the migrated template that the test suites' global
      // setup makes: a machine (or a change of migrations) that has not run the tests yet has none.
      await ensureTemplateDatabase();
      const stack = await DollyStack.start(['api', 'projector'], { DOLLY_LOG_LEVEL: 'warn' });
      const workers: BenchWorker[] = [];
      try {
        await measure(stack, workers);
      } catch (error) {
        for (const worker of workers)
          console.error(
            `--- ${worker.instance} (last lines)\n${worker.logs().slice(-20).join('\n')}`,
          );
        throw error;
      } finally {
        for (const worker of workers.reverse()) await worker.stop();
        await stack.stop();
      }
    } finally {
      await services.stop();
    }
  };
  run().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
