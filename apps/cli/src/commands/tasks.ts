import { type Command, Option } from 'commander';
import { type CommandAccepted, TASK_STATUSES, type TaskView } from '../api';
import { context, everyPage, query, segment } from '../context';
import { type FollowOptions, followTask, startsTask } from '../follow';
import { type Column, print, printJson, show } from '../output';
import { printTask } from '../resources';

const TASK_COLUMNS: Column<TaskView>[] = [
  { header: 'Task id', value: (t) => t.taskId },
  { header: 'Operation', value: (t) => t.operation },
  { header: 'Target', value: (t) => `${t.target.type} ${t.target.id}` },
  {
    header: 'Status',
    value: (t) => (t.cancelRequested && t.status === 'running' ? 'running (cancelling)' : t.status),
  },
  { header: '%', value: (t) => t.progress.percent },
  { header: 'By', value: (t) => t.actor.id },
  { header: 'Updated', value: (t) => t.updatedAt },
];

/**
 * A task id a person pastes right after `--no-wait` may be a moment ahead of the read model:
 * give it this long to appear before saying there is no such task.
 */
const TYPED_TASK_APPEARS_WITHIN_MS = 5_000;

export function taskCommands(program: Command): void {
  const tasks = program.command('tasks').description('Tasks: the work commands start');
  tasks
    .command('list')
    .description('List tasks')
    .option('--target <id>', 'only tasks on this object')
    .addOption(new Option('--status <status>', 'only tasks in this status').choices(TASK_STATUSES))
    .option('--all', 'every page')
    .action(async (options, command: Command) => {
      const { client, json } = context(command);
      const path = `/tasks${query({ targetId: options.target, status: options.status })}`;
      print(await everyPage<TaskView>(client, path, options.all), TASK_COLUMNS, json);
    });
  tasks
    .command('get <taskId>')
    .description('Show a task')
    .action(async (taskId: string, _options, command: Command) => {
      const { client, json } = context(command);
      show(await client.get<TaskView>(`/tasks/${segment(taskId)}`), json, printTask);
    });
  tasks
    .command('watch <taskId>')
    .description('Follow a task to its end with live progress (exit 1 failed, 2 cancelled)')
    .option('--progress', 'with --json: print each progress event as a JSON line (NDJSON)', false)
    .action((taskId: string, options: { progress: boolean }, command: Command) =>
      followTask(context(command), taskId, {
        progress: options.progress,
        appearWithinMs: TYPED_TASK_APPEARS_WITHIN_MS,
      }),
    );
  startsTask(
    tasks
      .command('cancel <taskId>')
      .description(
        'Cancel a task: a queued one ends at once, a running one is asked to stop; then follow it to its end',
      ),
  ).action(async (taskId: string, options: FollowOptions, command: Command) => {
    const ctx = context(command);
    const answer = await ctx.client.post<CommandAccepted>(`/tasks/${segment(taskId)}/cancel`);
    if (!options.wait) {
      if (ctx.json) printJson(answer);
      else console.log(`Cancel of task ${taskId} requested.`);
      return;
    }
    if (!ctx.json) console.error(`Cancel of task ${taskId} requested; following it to its end.`);
    await followTask(ctx, taskId, { progress: options.progress, appearWithinMs: 0 });
  });
}
