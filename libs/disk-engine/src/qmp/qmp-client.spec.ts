/**
 * The QMP client and job supervision against a scripted server on a Unix socket: the protocol
 * rules (ids, state, disconnects, job lifecycles) without QEMU. The real daemon is exercised by
 * the integration specs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDiskEngineError } from '../errors';
import { JobSupervisor } from './jobs';
import { QmpClient, QmpCommandError, QmpDisconnectedError, QmpStateError } from './qmp-client';

interface Request {
  execute: string;
  arguments: Record<string, unknown>;
  id: string;
}

/** A QMP server whose answers the test scripts per command. */
class FakeQemu {
  server!: Server;
  socket?: Socket;
  readonly requests: Request[] = [];
  handlers: Record<string, (req: Request, fake: FakeQemu) => void> = {};
  readonly path: string;
  private dir = mkdtempSync(join(tmpdir(), 'dolly-qmp-'));

  constructor() {
    this.path = join(this.dir, 'qmp.sock');
  }

  async listen(): Promise<void> {
    this.server = createServer((socket) => {
      this.socket = socket;
      socket.write(
        `${JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: [] } })}\r\n`,
      );
      let buffer = '';
      socket.on('data', (chunk) => {
        buffer += chunk.toString();
        let i: number;
        while ((i = buffer.indexOf('\n')) >= 0) {
          const req = JSON.parse(buffer.slice(0, i)) as Request;
          buffer = buffer.slice(i + 1);
          this.requests.push(req);
          const handler = this.handlers[req.execute];
          if (handler) handler(req, this);
          else this.reply(req, {});
        }
      });
    });
    await new Promise<void>((resolve) => this.server.listen(this.path, resolve));
  }

  send(message: unknown): void {
    this.socket?.write(`${JSON.stringify(message)}\r\n`);
  }

  reply(req: Request, value: unknown): void {
    this.send({ return: value, id: req.id });
  }

  event(event: string, data: unknown): void {
    this.send({ event, data, timestamp: { seconds: 1, microseconds: 0 } });
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise((resolve) => this.server.close(resolve));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

let qemu: FakeQemu;
let client: QmpClient;
beforeEach(async () => {
  qemu = new FakeQemu();
  await qemu.listen();
  client = new QmpClient();
});
afterEach(async () => {
  await client.disconnect();
  await qemu.close();
});

describe('QMP connection', () => {
  it('is idle until connected, negotiates capabilities, then runs', async () => {
    expect(client.state).toBe('idle');
    expect(() => client.execute('query-jobs', {})).toThrow(QmpStateError);
    await client.connect(qemu.path);
    expect(client.state).toBe('running');
    expect(qemu.requests[0].execute).toBe('qmp_capabilities');
  });

  it('matches replies to requests by id, whatever their order', async () => {
    const held: Request[] = [];
    qemu.handlers['query-jobs'] = (req) => held.push(req);
    await client.connect(qemu.path);
    const first = client.execute('query-jobs', {});
    const second = client.execute('query-jobs', {});
    await new Promise((r) => setTimeout(r, 20));
    expect(held).toHaveLength(2);
    expect(held[0].id).not.toBe(held[1].id);
    qemu.reply(held[1], [{ id: 'second' }]);
    qemu.reply(held[0], [{ id: 'first' }]);
    await expect(first).resolves.toEqual([{ id: 'first' }]);
    await expect(second).resolves.toEqual([{ id: 'second' }]);
  });

  it('keeps what was sent and the error class when QEMU refuses', async () => {
    qemu.handlers['blockdev-del'] = (req) =>
      qemu.send({ error: { class: 'DeviceNotFound', desc: 'no node' }, id: req.id });
    await client.connect(qemu.path);
    const refused = client.execute('blockdev-del', { 'node-name': 'n1' });
    await expect(refused).rejects.toBeInstanceOf(QmpCommandError);
    await expect(refused).rejects.toMatchObject({
      errorClass: 'DeviceNotFound',
      sent: { 'node-name': 'n1' },
    });
  });

  it('fails every pending request when the connection drops, and goes back to idle', async () => {
    qemu.handlers['query-jobs'] = () => undefined;
    await client.connect(qemu.path);
    const disconnected = jest.fn();
    client.onDisconnect(disconnected);
    const pending = [client.execute('query-jobs', {}), client.execute('query-jobs', {})];
    await new Promise((r) => setTimeout(r, 20));
    qemu.socket?.destroy();
    for (const p of pending) await expect(p).rejects.toBeInstanceOf(QmpDisconnectedError);
    expect(client.state).toBe('idle');
    expect(disconnected).toHaveBeenCalledTimes(1);
  });

  it('delivers events to the listeners of that event only', async () => {
    await client.connect(qemu.path);
    const exports: unknown[] = [];
    const jobs: unknown[] = [];
    client.on('BLOCK_EXPORT_DELETED', (data) => exports.push(data));
    const off = client.on('JOB_STATUS_CHANGE', (data) => jobs.push(data));
    qemu.event('BLOCK_EXPORT_DELETED', { id: 'e1' });
    qemu.event('JOB_STATUS_CHANGE', { id: 'j', status: 'running' });
    await new Promise((r) => setTimeout(r, 20));
    off();
    qemu.event('JOB_STATUS_CHANGE', { id: 'j', status: 'concluded' });
    await new Promise((r) => setTimeout(r, 20));
    expect(exports).toEqual([{ id: 'e1' }]);
    expect(jobs).toEqual([{ id: 'j', status: 'running' }]);
  });
});

describe('job supervision', () => {
  /** A job that goes through its states on events, and ends as `outcome` says. */
  function scriptJob(outcome: { error?: string; ready?: boolean }) {
    qemu.handlers['blockdev-backup'] = (req) => {
      const id = req.arguments['job-id'] as string;
      // Status events may come before the command's answer: the watcher must already be there.
      qemu.event('JOB_STATUS_CHANGE', { id, status: 'created' });
      qemu.event('JOB_STATUS_CHANGE', { id, status: 'running' });
      qemu.reply(req, {});
      if (outcome.ready) qemu.event('JOB_STATUS_CHANGE', { id, status: 'ready' });
      else finish(id);
    };
    const finish = (id: string) => {
      qemu.event('JOB_STATUS_CHANGE', { id, status: outcome.error ? 'aborting' : 'pending' });
      qemu.event('JOB_STATUS_CHANGE', { id, status: 'concluded' });
    };
    qemu.handlers['job-complete'] = (req) => {
      qemu.reply(req, {});
      finish(req.arguments.id as string);
    };
    qemu.handlers['job-cancel'] = (req) => {
      qemu.reply(req, {});
      outcome.error = 'cancelled';
      finish(req.arguments.id as string);
    };
    qemu.handlers['query-jobs'] = (req) => {
      const id = qemu.requests.find((r) => r.execute === 'blockdev-backup')?.arguments['job-id'];
      qemu.reply(req, [
        {
          id,
          type: 'backup',
          status: 'concluded',
          'current-progress': 1,
          'total-progress': 1,
          ...(outcome.error ? { error: outcome.error } : {}),
        },
      ]);
    };
  }

  const start = (id: string) => () =>
    client.execute('blockdev-backup', {
      'job-id': id,
      device: 'a',
      target: 'b',
      sync: 'full',
      'auto-dismiss': false,
    });

  it('follows a job on its events to concluded, reads how it ended, then dismisses it', async () => {
    scriptJob({});
    await client.connect(qemu.path);
    const jobs = new JobSupervisor(client);
    await jobs.run('j1', start('j1'));
    expect(qemu.requests.map((r) => r.execute)).toEqual([
      'qmp_capabilities',
      'blockdev-backup',
      'query-jobs',
      'job-dismiss',
    ]);
  });

  it('a failed job rejects with a stable code and is dismissed all the same', async () => {
    scriptJob({ error: 'Input/output error' });
    await client.connect(qemu.path);
    const jobs = new JobSupervisor(client);
    const outcome = jobs.run('j1', start('j1'));
    await expect(outcome).rejects.toMatchObject({
      code: 'DISK.QEMU_FAILED',
      details: { error: 'Input/output error' },
    });
    expect(qemu.requests.at(-1)?.execute).toBe('job-dismiss');
  });

  it('completes a job that waits in ready when asked to', async () => {
    scriptJob({ ready: true });
    await client.connect(qemu.path);
    const jobs = new JobSupervisor(client);
    await jobs.run('j1', start('j1'), { completeWhenReady: true });
    expect(qemu.requests.map((r) => r.execute)).toContain('job-complete');
  });

  it('cancels on abort and still waits for the job to conclude', async () => {
    scriptJob({ ready: true });
    await client.connect(qemu.path);
    const jobs = new JobSupervisor(client);
    const controller = new AbortController();
    const outcome = jobs.run('j1', start('j1'), { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    const error = await outcome.catch((e: unknown) => e);
    expect(isDiskEngineError(error, 'DISK.CANCELLED')).toBe(true);
    expect(qemu.requests.map((r) => r.execute).slice(-3)).toEqual([
      'job-cancel',
      'query-jobs',
      'job-dismiss',
    ]);
  });

  it('a job whose daemon goes away fails as unavailable, not as done', async () => {
    qemu.handlers['blockdev-backup'] = (req) => qemu.reply(req, {});
    await client.connect(qemu.path);
    const jobs = new JobSupervisor(client);
    const outcome = jobs.run('j1', start('j1'));
    await new Promise((r) => setTimeout(r, 20));
    qemu.socket?.destroy();
    await expect(outcome).rejects.toMatchObject({ code: 'DISK.DAEMON_UNAVAILABLE' });
  });
});
