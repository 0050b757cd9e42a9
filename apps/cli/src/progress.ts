import { SingleBar } from 'cli-progress';
import type { TaskView } from './api';
import { doneOf, humanBytes, share } from './output';

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

/** `512 MiB / 1 GiB`, or nothing while the worker has not measured the work. */
function bytesDone(task: TaskView): string {
  return doneOf(task.progress.doneBytes, task.progress.totalBytes);
}

/**
 * A live bar on a terminal. cli-progress draws it: it redraws in place at a bounded rate, fits the
 * terminal's width, and does nothing on a stream that is not a terminal; its format takes our
 * own fields (bytes in binary units, phase), so the bar says what vSphere's task pane says.
 */
export function barView(stream: NodeJS.WritableStream): ProgressView {
  const bar = new SingleBar({
    stream,
    format: `{operation} [{bar}] {percentage}% {bytes} {activity}`,
    barsize: 30,
    hideCursor: true,
    gracefulExit: false,
    clearOnComplete: false,
    linewrap: false,
  });
  let started = false;
  const payload = (task: TaskView) => {
    const bytes = bytesDone(task);
    return {
      operation: task.operation,
      bytes: bytes ? `| ${bytes} |` : '|',
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
      const bytes = bytesDone(task);
      stream.write(
        `${task.operation} ${task.taskId}: ${now} ${task.progress.percent}%${bytes ? ` (${bytes})` : ''}\n`,
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

/** Bytes moved by the CLI itself (an upload, a download), with or without a known total. */
export interface ByteProgress {
  add(bytes: number): void;
  stop(): void;
}

/**
 * A package going up or down: a bar on a terminal, else a line every tenth of the way (or every
 * 256 MiB when the size is unknown), so a log shows it is moving without a line per chunk.
 */
export function byteProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  label: string,
  totalBytes: number | null,
): ByteProgress {
  let done = 0;
  if (stream.isTTY) {
    const bar = new SingleBar({
      stream,
      format: `${label} [{bar}] {percentage}% | {bytes}`,
      barsize: 30,
      hideCursor: true,
      gracefulExit: false,
      clearOnComplete: false,
      linewrap: false,
    });
    const bytes = () => (totalBytes ? doneOf(done, totalBytes) : humanBytes(done));
    bar.start(totalBytes ?? 0, 0, { bytes: bytes() });
    return {
      add(n) {
        done += n;
        bar.update(totalBytes ? done : 0, { bytes: bytes() });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const step = totalBytes ? Math.max(1, Math.ceil(totalBytes / 10)) : 256 * 1024 * 1024;
  let next = step;
  return {
    add(n) {
      done += n;
      if (done < next) return;
      next = (Math.floor(done / step) + 1) * step;
      stream.write(
        `${label}: ${totalBytes ? `${doneOf(done, totalBytes)} (${share(done, totalBytes)})` : humanBytes(done)}\n`,
      );
    },
    stop() {
      return undefined;
    },
  };
}
