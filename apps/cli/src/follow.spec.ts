import {
  CLONE_ID,
  FakeApi,
  TASK_ID,
  bytesProgress,
  cloneTasks,
  sendJson,
  sendProblem,
  sendTaskStream,
  taskView,
  vmView,
} from './testing/fake-api';
import { runCli, startCli } from './testing/run-cli';

// The CLI runs as a child process (tsx, from the source): a few seconds each on a busy machine.
jest.setTimeout(60_000);

const STREAM = `/tasks/${TASK_ID}/stream`;
const clone = vmView({ vmId: CLONE_ID, name: 'web-02', role: 'vm', powerState: 'poweredOff' });

describe('dolly tasks watch', () => {
  let api: FakeApi;
  beforeEach(async () => {
    api = await FakeApi.start();
    api.on('GET', `/vms/${CLONE_ID}`, (_request, response) => sendJson(response, 200, clone));
  });
  afterEach(() => api.close());

  describe('when the task succeeds', () => {
    beforeEach(() => {
      api.on('GET', STREAM, (_request, response) =>
        sendTaskStream(
          response,
          cloneTasks({
            status: 'succeeded',
            progress: bytesProgress(100, 1024 ** 3, 1024 ** 3),
          }),
        ),
      );
    });

    it('shows each step of its progress, then what it made, and exits 0', async () => {
      const run = await runCli(api, ['tasks', 'watch', TASK_ID]);

      expect(run.code).toBe(0);
      expect(run.stderr).toContain(`CloneVm ${TASK_ID}: queued 0%`);
      expect(run.stderr).toContain(`CloneVm ${TASK_ID}: copy 50% (512 MiB / 1 GiB)`);
      expect(run.stdout).toContain(
        `CloneVm succeeded in 12.0 s: vm ${CLONE_ID} "web-02": vm, poweredOff, ready`,
      );
    });

    it('with --json, prints one document: the final task and what it made', async () => {
      const run = await runCli(api, ['--json', 'tasks', 'watch', TASK_ID]);

      expect(run.code).toBe(0);
      const document = JSON.parse(run.stdout);
      expect(document.task).toMatchObject({ taskId: TASK_ID, status: 'succeeded' });
      expect(document.resource).toEqual(clone);
    });

    it('with --json --progress, prints every event as a JSON line, the end last', async () => {
      const run = await runCli(api, ['--json', 'tasks', 'watch', TASK_ID, '--progress']);

      expect(run.code).toBe(0);
      const lines = run.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(lines.map((l) => [l.event, l.task.status])).toEqual([
        ['progress', 'queued'],
        ['progress', 'running'],
        ['end', 'succeeded'],
      ]);
      expect(lines[2].resource).toEqual(clone);
    });
  });

  describe('when the task fails', () => {
    beforeEach(() => {
      const error = {
        code: 'DISK.COPY_FAILED',
        message: 'qemu-img convert exited with 1',
        reasons: [],
      };
      api.on('GET', STREAM, (_request, response) =>
        sendTaskStream(response, cloneTasks({ status: 'failed', error })),
      );
    });

    it('prints the error code and message and exits 1', async () => {
      const run = await runCli(api, ['tasks', 'watch', TASK_ID]);

      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        'CloneVm failed in 12.0 s: DISK.COPY_FAILED: qemu-img convert exited with 1',
      );
      expect(api.requestsTo('GET', `/vms/${CLONE_ID}`)).toHaveLength(0);
    });

    it('with --json, still prints one document with the error, and exits 1', async () => {
      const run = await runCli(api, ['--json', 'tasks', 'watch', TASK_ID]);

      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout).task.error.code).toBe('DISK.COPY_FAILED');
    });
  });

  describe('when the task is cancelled', () => {
    it('says so and exits 2', async () => {
      api.on('GET', STREAM, (_request, response) =>
        sendTaskStream(response, cloneTasks({ status: 'cancelled', cancelRequested: true })),
      );

      const run = await runCli(api, ['tasks', 'watch', TASK_ID]);

      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`CloneVm cancelled in 12.0 s (task ${TASK_ID})`);
    });
  });

  describe('when the stream drops before the end', () => {
    it('opens it again and follows the task to its end', async () => {
      const [queued, copying, done] = cloneTasks({ status: 'succeeded' });
      let opened = 0;
      api.on('GET', STREAM, (_request, response) => {
        opened += 1;
        if (opened === 1) sendTaskStream(response, [queued, copying], 'drop');
        else sendTaskStream(response, [copying, done]);
      });

      const run = await runCli(api, ['tasks', 'watch', TASK_ID]);

      expect(run.code).toBe(0);
      expect(api.requestsTo('GET', STREAM)).toHaveLength(2);
      expect(run.stdout).toContain('CloneVm succeeded');
    });
  });

  describe('when interrupted (Ctrl-C)', () => {
    it('stops watching, leaves the task alone, and says how to watch again or cancel', async () => {
      api.on('GET', STREAM, (_request, response) =>
        sendTaskStream(response, cloneTasks({}).slice(0, 2), 'keepOpen'),
      );
      const cli = startCli(api, ['tasks', 'watch', TASK_ID]);
      await cli.stderrShows('copy 50%');

      cli.child.kill('SIGINT');
      const run = await cli.done;

      expect(run.code).toBe(130);
      expect(run.stderr).toContain(`Stopped watching task ${TASK_ID}; the task goes on.`);
      expect(run.stderr).toContain(`dolly tasks watch ${TASK_ID}`);
      expect(run.stderr).toContain(`dolly tasks cancel ${TASK_ID}`);
      expect(api.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    });
  });

  describe('when there is no such task', () => {
    it('prints the problem and exits 1', async () => {
      const unknown = '0196a3c0-0000-7000-8000-0000000000ff';

      const run = await runCli(api, ['tasks', 'watch', unknown]);

      expect(run.code).toBe(1);
      expect(run.stderr).toContain('Error 404 NOT_FOUND: No such route.');
    });
  });
});

/** The API's answer to cancelling TASK_ID. */
const cancelAccepted = {
  taskId: '0196a3c0-0000-7000-8000-0000000000ee',
  status: 'succeeded',
  changed: true,
  projected: false,
  target: { type: 'task', id: TASK_ID, version: 3 },
  links: { task: '/tasks/0196a3c0-0000-7000-8000-0000000000ee', target: `/tasks/${TASK_ID}` },
};

describe('dolly tasks cancel', () => {
  let api: FakeApi;
  beforeEach(async () => (api = await FakeApi.start()));
  afterEach(() => api.close());

  it('asks the API to cancel, then follows the task to its end: exit 2 once cancelled', async () => {
    api.on('POST', `/tasks/${TASK_ID}/cancel`, (_request, response) =>
      sendJson(response, 202, cancelAccepted),
    );
    api.on('GET', STREAM, (_request, response) =>
      sendTaskStream(response, [
        taskView({ status: 'running', cancelRequested: true }),
        taskView({ status: 'cancelled', cancelRequested: true }),
      ]),
    );

    const run = await runCli(api, ['tasks', 'cancel', TASK_ID]);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`CloneVm ${TASK_ID}: cancelling`);
    expect(run.stderr).toContain('CloneVm cancelled');
  });
});

describe('when the API is busy (429 with Retry-After)', () => {
  let api: FakeApi;
  beforeEach(async () => (api = await FakeApi.start()));
  afterEach(() => api.close());

  const busy = (response: import('node:http').ServerResponse, code: string) =>
    sendProblem(
      response,
      { status: 429, code, detail: 'Past a limit.', retryAfterSeconds: 1 },
      { 'retry-after': '1' },
    );

  it('sends the refused command again after Retry-After, then opens the stream again once refused', async () => {
    let commands = 0;
    api.on('POST', `/tasks/${TASK_ID}/cancel`, (_request, response) => {
      commands += 1;
      if (commands === 1) return busy(response, 'LIMIT.COMMAND_RATE');
      sendJson(response, 202, cancelAccepted);
    });
    let streams = 0;
    api.on('GET', STREAM, (_request, response) => {
      streams += 1;
      if (streams === 1) return busy(response, 'LIMIT.WAITS_PER_PRINCIPAL');
      sendTaskStream(response, [taskView({ status: 'cancelled', cancelRequested: true })]);
    });

    const run = await runCli(api, ['tasks', 'cancel', TASK_ID]);

    expect(run.code).toBe(2);
    expect(api.requestsTo('POST', `/tasks/${TASK_ID}/cancel`)).toHaveLength(2);
    expect(api.requestsTo('GET', STREAM)).toHaveLength(2);
    expect(run.stderr).toContain('The Dolly API is busy (429): trying again in 1 s');
    expect(run.stderr).toContain('CloneVm cancelled');
  });

  it('gives up after a few refusals and shows the problem', async () => {
    api.on('GET', STREAM, (_request, response) => busy(response, 'LIMIT.WAITS'));

    const run = await runCli(api, ['tasks', 'watch', TASK_ID]);

    expect(run.code).not.toBe(0);
    expect(api.requestsTo('GET', STREAM)).toHaveLength(6);
    expect(run.stderr).toContain('LIMIT.WAITS');
  });
});
