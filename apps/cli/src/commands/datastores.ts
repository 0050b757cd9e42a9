import type { Command } from 'commander';
import type { CommandAccepted, DatastoreView, QuarantineView } from '../api';
import { context, everyPage, segment } from '../context';
import { runTask, startsTask } from '../follow';
import { type Column, humanBytes, print, show } from '../output';
import { printDatastore } from '../resources';
import { parseRatio, parseSize } from '../units';

const DATASTORE_COLUMNS: Column<DatastoreView>[] = [
  { header: 'Datastore id', value: (d) => d.datastoreId },
  { header: 'Name', value: (d) => d.name },
  {
    header: 'Accessibility',
    value: (d) =>
      d.accessibility === 'inaccessible'
        ? `inaccessible (${d.accessibilityReason ?? 'no reason given'})`
        : (d.accessibility ?? ''),
  },
  { header: 'Capacity', value: (d) => humanBytes(d.capacityBytes) },
  { header: 'Free', value: (d) => (d.space ? humanBytes(d.space.freeBytes) : '') },
  { header: 'Overcommit', value: (d) => d.overcommitRatio },
  { header: 'Folder', value: (d) => d.folder },
];

export function datastoreCommands(program: Command): void {
  const datastores = program.command('datastores').description('Datastores');
  startsTask(
    datastores
      .command('register')
      .description('Register a datastore')
      .requiredOption('--name <name>')
      .requiredOption('--capacity <size>', 'usable capacity (e.g. 2TiB)', parseSize)
      .requiredOption(
        '--folder <path>',
        'absolute folder the workers reach, inside a datastore root, absent or empty',
      )
      .option(
        '--overcommit-ratio <ratio>',
        'how far thin disks may promise beyond capacity',
        parseRatio,
        1,
      )
      .option(
        '--adopt',
        'take over the Dolly datastore the folder already holds, under its own id',
        false,
      ),
  ).action((options, command: Command) =>
    runTask(command, (client) =>
      client.post<CommandAccepted>('/datastores', {
        name: options.name,
        capacityBytes: options.capacity,
        folder: options.folder,
        overcommitRatio: options.overcommitRatio,
        adopt: options.adopt,
      }),
    ),
  );
  startsTask(
    datastores.command('rename <datastoreId> <name>').description('Rename a datastore'),
  ).action((datastoreId: string, name: string, _options, command: Command) =>
    runTask(command, (client) =>
      client.post<CommandAccepted>(`/datastores/${segment(datastoreId)}/rename`, { name }),
    ),
  );
  startsTask(
    datastores
      .command('remove <datastoreId>')
      .description('Remove a datastore nothing stands on (its folder stays, to adopt again)'),
  ).action((datastoreId: string, _options, command: Command) =>
    runTask(command, (client) =>
      client.delete<CommandAccepted>(`/datastores/${segment(datastoreId)}`),
    ),
  );
  datastores
    .command('list')
    .description('List datastores')
    .option('--all', 'every page')
    .action(async (options, command: Command) => {
      const { client, json } = context(command);
      const rows = await everyPage<DatastoreView>(client, '/datastores', options.all);
      print(rows, DATASTORE_COLUMNS, json);
    });
  datastores
    .command('get <datastoreId>')
    .description('Show a datastore and its space: claimed, free, still provisionable')
    .action(async (id: string, _options, command: Command) => {
      const { client, json } = context(command);
      show(await client.get<DatastoreView>(`/datastores/${segment(id)}`), json, printDatastore);
    });

  const quarantine = datastores
    .command('quarantine')
    .description('What check moved aside on a datastore (admin)');
  quarantine
    .command('list <datastoreId>')
    .description('Quarantined layers (restorable once sound) and files no layer named')
    .action(async (id: string, _options, command: Command) => {
      const { client, json } = context(command);
      const view = await client.get<QuarantineView>(`/datastores/${segment(id)}/quarantine`);
      if (json) return print(view.entries, QUARANTINE_COLUMNS, true);
      if (!view.observed) console.log('No worker has reported on this datastore yet.');
      else if (view.entries.length === 0) console.log('Nothing is quarantined.');
      else print(view.entries, QUARANTINE_COLUMNS, false);
    });
  startsTask(
    quarantine
      .command('restore <datastoreId> <entry>')
      .description(
        'Restore a quarantined layer: a worker checks it again and takes it back if sound (else the task fails with the reason)',
      ),
  ).action((datastoreId: string, entry: string, _options, command: Command) =>
    runTask(command, (client) =>
      client.post<CommandAccepted>(
        `/datastores/${segment(datastoreId)}/quarantine/${segment(entry)}/restore`,
      ),
    ),
  );
}

const QUARANTINE_COLUMNS: Column<QuarantineView['entries'][number]>[] = [
  { header: 'Entry', value: (e) => e.entry },
  { header: 'Kind', value: (e) => e.kind },
  { header: 'Size', value: (e) => humanBytes(e.sizeBytes) },
  { header: 'Disks', value: (e) => e.diskIds.join(', ') },
  { header: 'Restorable', value: (e) => (e.restorable ? 'yes' : 'no') },
];
