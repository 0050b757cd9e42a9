import type { TaskView } from './api';
import { ApiProblem } from './client';

/**
 * The one place that says what went wrong: an API problem with every reason it gave, a task that
 * failed with its error, or anything else by its message. Always to stderr, so --json stdout stays
 * one parseable document.
 */
export function problemLines(error: unknown): string[] {
  if (!(error instanceof ApiProblem))
    return [`Error: ${(error as Error).message ?? String(error)}`];
  if (typeof error.body === 'string') return [`Error ${error.status}: ${error.body}`];
  const { code, detail, errors = [] } = error.body;
  return [
    `Error ${error.status}${code ? ` ${code}` : ''}: ${detail ?? ''}`.trimEnd(),
    ...errors.map(
      (reason) =>
        `  - ${reason.pointer ? `${reason.pointer}: ` : ''}${reason.detail} (${reason.code})`,
    ),
  ];
}

export function printProblem(error: unknown): void {
  for (const line of problemLines(error)) console.error(line);
}

/** A failed task's code and message, then each of its reasons when it had several, one a line. */
export function taskErrorLine(task: TaskView): string {
  if (!task.error) return 'no error recorded';
  const { code, message, reasons } = task.error;
  return [
    `${code}: ${message}`,
    ...reasons.map(
      (reason) => `  - ${reason.at ? `${reason.at}: ` : ''}${reason.detail} (${reason.code})`,
    ),
  ].join('\n');
}

export function isNotFound(error: unknown): boolean {
  return error instanceof ApiProblem && error.status === 404;
}
