import { setTimeout as sleep } from 'node:timers/promises';
import { createParser } from 'eventsource-parser';
import { doublingPause } from '@dolly/domain';
import { hasEnded, type TaskView } from './api';
import { ApiUnreachable, type DollyClient } from './client';
import { isNotFound } from './problems';

/** One server-sent event of `GET /tasks/{taskId}/stream`. */
export interface TaskEvent {
  event: 'progress' | 'end';
  task: TaskView;
}

export interface TaskEventsOptions {
  /** Stops reading (Ctrl-C): the generator then returns without an `end`. */
  signal: AbortSignal;
  /**
   * A task just accepted shows in the read model a moment later, and until then its stream
   * answers 404: retry that long. Zero for a task id a person typed (404 means no such task).
   */
  appearWithinMs?: number;
  /** How many times in a row a dropped stream (or an unreachable API) is reopened. */
  reopenAttempts?: number;
}

const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 2000;

/**
 * The task's progress events until its `end`. The stream is read with fetch and parsed with
 * eventsource-parser rather than an EventSource: EventSource hides the HTTP status and the
 * problem+json body of a refused stream, and reconnects on its own after the server closes the
 * stream at the end. Here a dropped stream is reopened (the server starts again from the task's
 * current state, so nothing is lost), a bounded number of times in a row.
 */
export async function* taskEvents(
  client: DollyClient,
  taskId: string,
  options: TaskEventsOptions,
): AsyncGenerator<TaskEvent, void, undefined> {
  const { signal, appearWithinMs = 0, reopenAttempts = 5 } = options;
  const path = `/tasks/${encodeURIComponent(taskId)}/stream`;
  const appearBy = Date.now() + appearWithinMs;
  let failuresInARow = 0;
  let notFoundPauses = 0;

  while (!signal.aborted) {
    let body: ReadableStream<Uint8Array>;
    try {
      body = await client.openEventStream(path, signal);
    } catch (error) {
      if (signal.aborted) return;
      if (isNotFound(error) && Date.now() < appearBy) {
        if (!(await pause(notFoundPauses++, signal))) return;
        continue;
      }
      if (!(error instanceof ApiUnreachable) || failuresInARow >= reopenAttempts) throw error;
      if (!(await pause(failuresInARow++, signal))) return;
      continue;
    }

    const received: TaskEvent[] = [];
    const parser = createParser({
      onEvent: ({ event, data }) => {
        if (event !== 'progress' && event !== 'end') return;
        const task = JSON.parse(data) as TaskView;
        received.push({ event: event === 'end' || hasEnded(task) ? 'end' : 'progress', task });
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        for (const taskEvent of received.splice(0)) {
          failuresInARow = 0;
          yield taskEvent;
          if (taskEvent.event === 'end') return;
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (!isDropped(error)) throw error;
    }
    // Closed without an end: the connection dropped, or the API restarted. Open it again.
    if (failuresInARow >= reopenAttempts) {
      throw new Error(
        `The progress stream of task ${taskId} closed ${failuresInARow + 1} times without the task ending. ` +
          `See where it is with: dolly tasks get ${taskId}`,
      );
    }
    if (!(await pause(failuresInARow++, signal))) return;
  }
}

/** Waits a little longer each time; false when the wait was cut short by the signal. */
async function pause(attempt: number, signal: AbortSignal): Promise<boolean> {
  const ms = doublingPause(attempt, FIRST_PAUSE_MS, LONGEST_PAUSE_MS);
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** A body that ended in a network error rather than a bug of ours (a TypeError from undici). */
function isDropped(error: unknown): boolean {
  return error instanceof TypeError || (error as NodeJS.ErrnoException).code === 'ECONNRESET';
}
