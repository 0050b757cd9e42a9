import type { Command } from 'commander';
import { type CommandAccepted, resourcePath, type TaskView } from './api';
import type { DollyClient } from './client';
import { type Context, context } from './context';
import { printJson, progressAmount } from './output';
import { isNotFound, problemLines, taskErrorLine } from './problems';
import { barView, linesView, ndjsonView, type ProgressView, quietView } from './progress';
import { summary } from './resources';
import { taskEvents } from './task-events';

/**
 * Following a task: the one place that sends a command which starts a task, follows the task's
 * progress stream to its end, and says how it ended. Exit codes: 0 succeeded (or nothing to do),
 * 1 failed, 2 cancelled, 130 stopped watching (Ctrl-C; the task goes on).
 */

export const EXIT_FAILED = 1;
export const EXIT_CANCELLED = 2;
export const EXIT_STOPPED_WATCHING = 130;

/** A task just accepted may take this long to show in the read model that its stream reads. */
const ACCEPTED_TASK_APPEARS_WITHIN_MS = 30_000;

export interface FollowOptions {
  /** False with --no-wait: return at once with the task id. */
  wait: boolean;
  /** With --json: every progress event as a JSON line. */
  progress: boolean;
}

/** The options of every command that starts a task. */
export function startsTask(command: Command): Command {
  return command
    .option('--no-wait', 'return at once with the task id instead of following the task')
    .option('--progress', 'with --json: print each progress event as a JSON line (NDJSON)', false);
}

/** Sends a command and, unless --no-wait, follows the task it started to its end. */
export async function runTask(
  command: Command,
  send: (client: DollyClient) => Promise<CommandAccepted>,
): Promise<void> {
  const ctx = context(command);
  const options = command.opts<FollowOptions>();
  const answer = await send(ctx.client);
  if (!answer.changed || !answer.taskId) {
    if (ctx.json) printJson(answer);
    else console.log(`Nothing to change: ${answer.target.type} ${answer.target.id} is already so.`);
    return;
  }
  if (!options.wait) {
    if (ctx.json) printJson(answer);
    else printAccepted(answer.taskId, answer);
    return;
  }
  await followTask(ctx, answer.taskId, {
    progress: options.progress,
    appearWithinMs: ACCEPTED_TASK_APPEARS_WITHIN_MS,
  });
}

/**
 * Follows a task to its end, showing its progress, then prints how it ended and sets the exit
 * code. Ctrl-C stops watching (not the task) and says how to watch again or cancel.
 */
export async function followTask(
  ctx: Context,
  taskId: string,
  options: { progress: boolean; appearWithinMs: number },
): Promise<void> {
  const view = chooseView(ctx.json, options.progress);
  const interrupted = new AbortController();
  const onInterrupt = () => interrupted.abort();
  process.on('SIGINT', onInterrupt);
  let last: TaskView | undefined;
  let ended = false;
  try {
    const events = taskEvents(ctx.client, taskId, {
      signal: interrupted.signal,
      appearWithinMs: options.appearWithinMs,
    });
    for await (const { event, task } of events) {
      last = task;
      ended = event === 'end';
      if (!ended) view.update(task);
    }
  } finally {
    view.stop(ended ? last : undefined);
    process.off('SIGINT', onInterrupt);
  }
  if (!ended || !last) {
    printStoppedWatching(taskId);
    process.exitCode = EXIT_STOPPED_WATCHING;
    return;
  }
  const resource =
    last.status === 'succeeded' ? await changedResource(ctx.client, last) : undefined;
  printOutcome(last, resource, ctx.json, options.progress);
}

function chooseView(json: boolean, progress: boolean): ProgressView {
  if (json) return progress ? ndjsonView(process.stdout) : quietView;
  return process.stderr.isTTY ? barView(process.stderr) : linesView(process.stderr);
}

/**
 * The object the task made or changed, as the task left it (the task's stream ends once that
 * shows); none when it is gone (a deletion).
 */
async function changedResource(
  client: DollyClient,
  task: TaskView,
): Promise<Record<string, unknown> | undefined> {
  const path = resourcePath(task.target);
  if (!path || task.target.type === 'task') return undefined;
  try {
    return await client.get<Record<string, unknown>>(path);
  } catch (error) {
    if (!isNotFound(error)) {
      console.error(`The task succeeded, but reading ${path} did not:`);
      for (const line of problemLines(error)) console.error(`  ${line}`);
    }
    return undefined;
  }
}

function printOutcome(
  task: TaskView,
  resource: Record<string, unknown> | undefined,
  json: boolean,
  progress: boolean,
): void {
  if (json && progress) console.log(JSON.stringify({ event: 'end', task, resource }));
  else if (json) printJson({ task, resource });
  const took = duration(task);
  switch (task.status) {
    case 'succeeded':
      if (!json) {
        const counted =
          task.progress.unit === 'events' ? ` (${progressAmount(task.progress)})` : '';
        const what = resource
          ? summary(task.target.type, resource)
          : `${task.target.type} ${task.target.id}${counted}`;
        console.log(`${task.operation} succeeded${took}: ${what}`);
      }
      return;
    case 'failed':
      console.error(`${task.operation} failed${took}: ${taskErrorLine(task)}`);
      console.error(`  task ${task.taskId} on ${task.target.type} ${task.target.id}`);
      process.exitCode = EXIT_FAILED;
      return;
    case 'cancelled':
      console.error(`${task.operation} cancelled${took} (task ${task.taskId})`);
      process.exitCode = EXIT_CANCELLED;
      return;
    default:
      throw new Error(`Task ${task.taskId} ended in an unknown status '${task.status}'`);
  }
}

function duration(task: TaskView): string {
  if (!task.completedAt) return '';
  const ms = Date.parse(task.completedAt) - Date.parse(task.createdAt);
  return Number.isFinite(ms) && ms >= 0 ? ` in ${(ms / 1000).toFixed(1)} s` : '';
}

function printAccepted(taskId: string, answer: CommandAccepted): void {
  const target = `${answer.target.type} ${answer.target.id}`;
  console.log(`Task ${taskId} ${answer.status === 'queued' ? 'queued' : 'done'}: ${target}`);
  printHowToResume(taskId, console.log);
}

function printStoppedWatching(taskId: string): void {
  console.error(`Stopped watching task ${taskId}; the task goes on.`);
  printHowToResume(taskId, console.error);
}

function printHowToResume(taskId: string, write: (line: string) => void): void {
  write(`  Watch it:  dolly tasks watch ${taskId}`);
  write(`  Cancel it: dolly tasks cancel ${taskId}`);
}
