import type { Command } from 'commander';
import type { CommandAccepted } from '../api';
import { runTask, startsTask } from '../follow';

export function adminCommands(program: Command): void {
  const admin = program.command('admin').description('Administration of Dolly itself (admin)');
  startsTask(
    admin
      .command('rebuild')
      .description(
        'Rebuild every read model from the whole history into fresh tables while the live ones serve, then switch over with no downtime (progress in events, with the rate; Ctrl-C stops watching, `dolly tasks cancel` stops the rebuild)',
      ),
  ).action((_options, command: Command) =>
    runTask(command, (client) => client.post<CommandAccepted>('/admin/read-models/rebuild')),
  );
}
