import type { Command } from 'commander';
import type { CommandAccepted, SnapshotView } from '../api';
import { context, query, segment } from '../context';
import { runTask, startsTask } from '../follow';
import { print, printJson } from '../output';
import { snapshotTree } from '../resources';

interface Snapshots {
  snapshots: SnapshotView[];
  currentSnapshotId: string | null;
}

/** Snapshots belong to a VM, so their commands stand under `dolly vms`. */
export function snapshotCommands(vms: Command): void {
  vms
    .command('snapshots <vmId>')
    .description("A VM's snapshots as a tree, and the one it runs from")
    .action(async (vmId: string, _options, command: Command) => {
      const { client, json, asOf } = context(command);
      const answer = await client.get<Snapshots>(
        `/vms/${segment(vmId)}/snapshots${query({ asOf })}`,
      );
      if (json) return printJson(answer);
      if (answer.snapshots.length === 0) return console.log(`VM ${vmId} has no snapshots.`);
      print(
        snapshotTree(answer.snapshots, answer.currentSnapshotId),
        [
          { header: 'Snapshot', value: (row) => row.line },
          { header: 'Snapshot id', value: (row) => row.snapshot.snapshotId },
          { header: 'Description', value: (row) => row.snapshot.description },
        ],
        false,
      );
    });
  startsTask(
    vms
      .command('snapshot <vmId>')
      .description('Take a snapshot (a running VM too): its disks are frozen as they are now')
      .requiredOption('--name <name>')
      .option('--description <text>'),
  ).action((vmId: string, options: { name: string; description?: string }, command: Command) =>
    runTask(command, (client) =>
      client.post<CommandAccepted>(`/vms/${segment(vmId)}/snapshots`, {
        name: options.name,
        description: options.description,
      }),
    ),
  );
  startsTask(
    vms
      .command('revert <vmId> <snapshotId>')
      .description('Revert a powered-off VM to a snapshot: its disks read as they did then'),
  ).action((vmId: string, snapshotId: string, _options, command: Command) =>
    runTask(command, (client) =>
      client.post<CommandAccepted>(`/vms/${segment(vmId)}/snapshots/${segment(snapshotId)}/revert`),
    ),
  );
  startsTask(
    vms
      .command('delete-snapshot <vmId> <snapshotId>')
      .description('Delete a snapshot: its layers are consolidated into the chain'),
  ).action((vmId: string, snapshotId: string, _options, command: Command) =>
    runTask(command, (client) =>
      client.delete<CommandAccepted>(`/vms/${segment(vmId)}/snapshots/${segment(snapshotId)}`),
    ),
  );
}
