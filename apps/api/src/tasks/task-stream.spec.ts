import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Server } from 'node:http';
import type { TaskWatcher } from '../shared/projection-waiter';
import { streamTask } from './task-stream';
import { type TaskView, progressView } from './task.representation';

const queued = {
  taskId: '0196a3c0-0000-7000-8000-000000000001',
  status: 'queued',
  updatedAt: '2025-01-01T10:00:00.000Z',
  progress: progressView(0, null, null),
} as unknown as TaskView;

/**
 * A real HTTP server whose one route streams the task; the test plays the projection waiter, and
 * says when an ended task's effect shows (at once unless `effectShown` is given).
 */
async function serve(maxSeconds: number, effectShown = async (_task: TaskView) => {}) {
  const watchers: TaskWatcher[] = [];
  let unwatched = 0;
  const app = express();
  const closed: Promise<void>[] = [];
  app.get('/stream', (_request, response) => {
    const abort = new AbortController();
    response.on('close', () => abort.abort());
    closed.push(
      streamTask(
        response,
        queued.taskId,
        {
          watch: async (watcher) => {
            watchers.push(watcher);
            return () => unwatched++;
          },
          read: async () => queued,
          effectShown,
        },
        abort.signal,
        maxSeconds,
      ),
    );
  });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream`;
  return { url, watchers, closed, unwatched: () => unwatched, server };
}

async function readAll(url: string): Promise<string> {
  const response = await fetch(url);
  return response.text();
}

describe('a task progress stream', () => {
  it('shows the task, then each change it is shown, and ends with the task', async () => {
    const stack = await serve(60);
    try {
      // The headers come once the stream showed the task: from then on it is shown each change.
      const response = await fetch(stack.url);
      const body = response.text();
      const [watcher] = stack.watchers;
      watcher.seen({ ...queued, status: 'running' } as TaskView);
      watcher.seen({ ...queued, status: 'running' } as TaskView);
      watcher.seen({ ...queued, status: 'succeeded' } as TaskView);

      const events = [...(await body).matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
      expect(events).toEqual(['progress', 'progress', 'end']);
      await Promise.all(stack.closed);
      expect(stack.unwatched()).toBe(1);
    } finally {
      stack.server.closeAllConnections();
      stack.server.close();
    }
  });

  it('sends the end only once the succeeded task’s effect shows on its target', async () => {
    let showEffect!: () => void;
    const effectAsked: TaskView[] = [];
    const stack = await serve(60, (task) => {
      effectAsked.push(task);
      return new Promise<void>((resolve) => (showEffect = resolve));
    });
    try {
      const response = await fetch(stack.url);
      const body = response.text();
      const [watcher] = stack.watchers;
      watcher.seen({ ...queued, status: 'succeeded' } as TaskView);
      // Seen again while the end waits: still one end.
      watcher.seen({ ...queued, status: 'succeeded' } as TaskView);
      const closedEarly = await Promise.race([
        Promise.all(stack.closed).then(() => true),
        new Promise((resolve) => setTimeout(() => resolve(false), 200)),
      ]);
      expect(closedEarly).toBe(false);
      expect(effectAsked.map((task) => task.status)).toEqual(['succeeded']);

      showEffect();
      const events = [...(await body).matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
      expect(events).toEqual(['progress', 'end']);
      await Promise.all(stack.closed);
    } finally {
      stack.server.closeAllConnections();
      stack.server.close();
    }
  });

  it('closes without an end after its longest time, and stops watching', async () => {
    const stack = await serve(1);
    try {
      const body = await readAll(stack.url);

      expect([...body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1])).toEqual(['progress']);
      await Promise.all(stack.closed);
      expect(stack.unwatched()).toBe(1);
    } finally {
      stack.server.closeAllConnections();
      stack.server.close();
    }
  });

  it('stops watching when the client goes', async () => {
    const stack = await serve(60);
    try {
      const abort = new AbortController();
      const response = await fetch(stack.url, { signal: abort.signal });
      expect(response.status).toBe(200);
      abort.abort();

      await Promise.all(stack.closed);
      expect(stack.unwatched()).toBe(1);
    } finally {
      stack.server.closeAllConnections();
      stack.server.close();
    }
  });
});
