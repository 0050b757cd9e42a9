import type { Response } from 'express';
import type { TaskView } from './task.representation';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);
const POLL_MS = 250;

/**
 * Streams a task's progress as server-sent events until it ends: `progress` whenever it changes,
 * then one `end`. Clients need not poll; a client that reconnects just gets the current state.
 */
export async function streamTask(
  response: Response,
  read: () => Promise<TaskView>,
  signal: AbortSignal,
): Promise<void> {
  response.status(200);
  response.setHeader('Content-Type', 'text/event-stream');
  response.setHeader('Cache-Control', 'no-cache');
  response.setHeader('Connection', 'keep-alive');
  response.flushHeaders();
  let last = '';
  while (!signal.aborted) {
    const task = await read();
    const text = JSON.stringify(task);
    const finished = FINISHED.has(task.status);
    if (text !== last) {
      response.write(`event: ${finished ? 'end' : 'progress'}\ndata: ${text}\n\n`);
      last = text;
    }
    if (finished) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  response.end();
}
