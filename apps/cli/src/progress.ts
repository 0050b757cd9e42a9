import { SingleBar } from 'cli-progress';
import type { TaskView } from './api';
import { doneOf, humanBytes, progressAmount, share } from './output';

/** Shows a task's progress while it is followed: one of the views below. */
export interface ProgressView {
  update(task: TaskView): void;
  /** Before the outcome is printed (with the task as it ended), or when watching stops. */
  stop(final?: TaskView): void;
}

/** What the task is doing, in a few words: its phase, or its status before a worker has one. */
export function activity(task: TaskView): string {
  if (task.cancelRequested && task.status === 'running') return 'cancelling';
  if (task.status === 'queued') return 'queued';
  return task.progress.phase ?? task.status;
}

/**
 * A live bar on a terminal. cli-progress draws it: it redraws in place at a bounded rate, fits the
 * terminal's width, and does nothing on a stream that is not a terminal; its format takes our
 * own fields (bytes in binary units or events counted, phase), so the bar says what vSphere's task pane says.
 */
export function barView(stream: NodeJS.WritableStream): ProgressView {
  const bar = new SingleBar({
    stream,
    format: `{operation} [{bar}] {percentage}% {amount} {activity}`,
    barsize: 30,
    hideCursor: true,
    gracefulExit: false,
    clearOnComplete: false,
    linewrap: false,
  });
  let started = false;
  const payload = (task: TaskView) => {
    const amount = progressAmount(task.progress);
    return {
      operation: task.operation,
      amount: amount ? `| ${amount} |` : '|',
      activity: activity(task),
    };
  };
  return {
    update(task) {
      if (!started) {
        bar.start(100, task.progress.percent, payload(task));
        started = true;
      } else {
        bar.update(task.progress.percent, payload(task));
      }
    },
    stop(final) {
      if (!started) return;
      if (final) bar.update(final.progress.percent, payload(final));
      bar.stop();
      started = false;
    },
  };
}

/**
 * Where there is no terminal (a log, a pipe): one line each time the task changes what it does,
 * rather than a bar redrawn into a file.
 */
export function linesView(stream: NodeJS.WritableStream): ProgressView {
  let last = '';
  return {
    update(task) {
      const now = activity(task);
      if (now === last) return;
      last = now;
      const amount = progressAmount(task.progress);
      stream.write(
        `${task.operation} ${task.taskId}: ${now} ${task.progress.percent}%${amount ? ` (${amount})` : ''}\n`,
      );
    },
    stop() {},
  };
}

/** --json --progress: every event one JSON line (NDJSON), for scripts that want progress. */
export function ndjsonView(stream: NodeJS.WritableStream): ProgressView {
  return {
    update(task) {
      stream.write(`${JSON.stringify({ event: 'progress', task })}\n`);
    },
    stop() {},
  };
}

/** --json alone: nothing until the final document. */
export const quietView: ProgressView = { update() {}, stop() {} };

/** Work done by the CLI itself, counted as it goes (bytes moved, links verified). */
export interface AmountProgress {
  add(amount: number): void;
  stop(): void;
}

/** How far along, in the amount's own words: `512 MiB / 1 GiB`, `4,000 / 10,000 links`. */
type DescribeAmount = (done: number, total: number | null) => string;

/**
 * A bar on a terminal, else a line every tenth of the way (or every `unknownStep` when the total
 * is unknown), so a log shows it is moving without a line per chunk.
 */
export function amountProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  label: string,
  total: number | null,
  describe: DescribeAmount,
  unknownStep: number,
): AmountProgress {
  let done = 0;
  if (stream.isTTY) {
    const bar = new SingleBar({
      stream,
      format: `${label} [{bar}] {percentage}% | {amount}`,
      barsize: 30,
      hideCursor: true,
      gracefulExit: false,
      clearOnComplete: false,
      linewrap: false,
    });
    bar.start(total ?? 0, 0, { amount: describe(done, total) });
    return {
      add(n) {
        done += n;
        bar.update(total ? done : 0, { amount: describe(done, total) });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const step = total ? Math.max(1, Math.ceil(total / 10)) : unknownStep;
  let next = step;
  return {
    add(n) {
      done += n;
      if (done < next) return;
      next = (Math.floor(done / step) + 1) * step;
      stream.write(
        `${label}: ${describe(done, total)}${total ? ` (${share(done, total)})` : ''}\n`,
      );
    },
    stop() {
      return undefined;
    },
  };
}

/** Bytes moved by the CLI itself (a package going up or down), with or without a known total. */
export function byteProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  label: string,
  totalBytes: number | null,
): AmountProgress {
  return amountProgress(
    stream,
    label,
    totalBytes,
    (done, total) => (total ? doneOf(done, total) : humanBytes(done)),
    256 * 1024 * 1024,
  );
}
