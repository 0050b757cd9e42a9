import type { Response } from 'express';
import type { TaskWatcher } from '../shared/projection-waiter';
import type { TaskView } from './task.representation';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
/** A comment line now and then, so proxies and clients see the stream is alive while nothing changes. */
const HEARTBEAT_MS = 15_000;

export interface TaskStreamSource {
  /** Registers the stream with the projection waiter; it is shown the task whenever it may have changed. */
  watch: (watcher: TaskWatcher) => Promise<() => void>;
  /** The task as it is now (read once, after watching). */
  read: () => Promise<TaskView>;
  /**
   * Resolves once what the ended task changed shows in its target's read model (or a bound
   * passed): the `end` waits for it, so that a client reading the target then sees the effect.
   */
  effectShown: (task: TaskView) => Promise<void>;
}

/**
 * Streams a task's progress as server-sent events until it ends: `progress` whenever it changes,
 * then one `end`, sent once the task's effect shows on its target. The stream is woken by the
 * projector's notifications, never by polling. It is closed after `maxSeconds` without an `end`
 * (a task may stay queued for ever): the client opens it again and gets the current state, so
 * nothing is lost. Resolves once the stream is closed.
 */
export async function streamTask(
  response: Response,
  taskId: string,
  source: TaskStreamSource,
  signal: AbortSignal,
  maxSeconds: number,
): Promise<void> {
  let last = '';
  let open = false;
  let seenBeforeOpen: TaskView | undefined;
  let ended = false;
  let ending = false;
  const watching: { stop?: () => void } = {};
  let finished!: () => void;
  const closed = new Promise<void>((resolve) => (finished = resolve));
  const timers: NodeJS.Timeout[] = [];
  const close = () => {
    if (ended) return;
    ended = true;
    for (const timer of timers) clearTimeout(timer);
    watching.stop?.();
    response.end();
    finished();
  };
  const end = async (task: TaskView) => {
    ending = true;
    await source.effectShown(task).catch(() => undefined);
    if (ended) return;
    response.write(`event: end\ndata: ${JSON.stringify(task)}\n\n`);
    close();
  };
  const show = (task: TaskView) => {
    if (ended || ending) return;
    if (!open) {
      seenBeforeOpen = task;
      return;
    }
    if (FINISHED.has(task.status)) return void end(task);
    const text = JSON.stringify(task);
    if (text !== last) {
      response.write(`event: progress\ndata: ${text}\n\n`);
      last = text;
    }
  };

  const unwatch = await source.watch({ taskId, seen: show, stop: close });
  watching.stop = unwatch;
  try {
    const first = await source.read();
    response.status(200);
    response.setHeader('Content-Type', 'text/event-stream');
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('Connection', 'keep-alive');
    response.flushHeaders();
    open = true;
    show(first);
    // A look that answered while the stream read the task may have seen it later than the read.
    if (seenBeforeOpen && isLater(seenBeforeOpen, first)) show(seenBeforeOpen);
  } catch (error) {
    unwatch();
    throw error;
  }
  if (signal.aborted) close();
  if (ended) return closed;
  signal.addEventListener('abort', close, { once: true });
  timers.push(setInterval(() => !ended && response.write(': heartbeat\n\n'), HEARTBEAT_MS));
  timers.push(setTimeout(close, maxSeconds * 1000));
  return closed;
}

function isLater(a: TaskView, b: TaskView): boolean {
  const at = Date.parse(a.updatedAt) - Date.parse(b.updatedAt);
  return at > 0 || (at === 0 && a.progress.done > b.progress.done);
}
