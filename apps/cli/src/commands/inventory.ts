import type { Command } from 'commander';
import type { InventoryDiffView } from '../api';
import { context, everyPage, query } from '../context';
import { type Column, print, printJson, printSection } from '../output';

/** An item of GET /inventory: the object as its own GET shows it. */
interface InventoryItem {
  type: string;
  id: string;
  object: { name?: string; role?: string };
}

const INVENTORY_COLUMNS: Column<InventoryItem>[] = [
  { header: 'Kind', value: (item) => item.object.role ?? item.type },
  { header: 'Name', value: (item) => item.object.name ?? '' },
  { header: 'Id', value: (item) => item.id },
];

const value = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

export function inventoryCommands(program: Command): Command {
  const inventory = program.command('inventory').description('The whole inventory');
  inventory
    .command('list')
    .description(
      'Hosts, datastores, pools and VMs by role in one listing (with --as-of: as they were then)',
    )
    .option(
      '--kinds <kinds>',
      'only these kinds, comma-separated (host, datastore, pool, vm, template, replica...)',
    )
    .option('--all', 'every page')
    .action(async (options: { kinds?: string; all?: boolean }, command: Command) => {
      const { client, json, asOf } = context(command);
      const path = `/inventory${query({ kinds: options.kinds, asOf })}`;
      const items = await everyPage<InventoryItem>(client, path, options.all === true);
      print(items, INVENTORY_COLUMNS, json);
    });
  inventory
    .command('diff')
    .description(
      'What was created, deleted and changed (field by field) between two instants ' +
        '(RFC 3339 times or global positions)',
    )
    .requiredOption('--from <instant>', 'the earlier instant')
    .option('--to <instant>', 'the later instant (default: now)')
    .option('--limit <n>', 'at most this many objects')
    .action(async (options: { from: string; to?: string; limit?: string }, command: Command) => {
      const { client, json } = context(command);
      const diff = await client.get<InventoryDiffView>(
        `/inventory/diff${query({ from: options.from, to: options.to, limit: options.limit })}`,
      );
      if (json) return printJson(diff);
      const object = [
        { header: 'type', value: (o: { type: string }) => o.type },
        { header: 'name', value: (o: { name: string }) => o.name },
        { header: 'id', value: (o: { id: string }) => o.id },
      ];
      printSection('Created', diff.created, object);
      printSection('Deleted', diff.deleted, object);
      const changes = diff.changed.flatMap((o) => o.changes.map((change) => ({ ...o, ...change })));
      printSection('Changed', changes, [
        ...object,
        { header: 'field', value: (c) => c.field },
        { header: 'from', value: (c) => value(c.from) },
        { header: 'to', value: (c) => value(c.to) },
      ]);
      if (diff.created.length + diff.deleted.length + diff.changed.length === 0)
        console.log('Nothing changed in between');
      if (diff.truncated) console.log('… more objects changed than the limit: raise --limit');
    });
  return inventory;
}
