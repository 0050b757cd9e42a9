import type { Command } from 'commander';
import type { LineageView } from '../api';
import { context, query, segment } from '../context';
import { lineageTree } from '../lineage';
import { printJson } from '../output';
import { parseInteger } from '../units';

export interface LineageOptions {
  descendants?: boolean;
  limit?: number;
}

/** A lineage (with --as-of: as it was then), as a tree or as JSON. */
export async function showLineage(
  command: Command,
  path: string,
  options: LineageOptions,
): Promise<void> {
  const { client, json, asOf } = context(command);
  const view = await client.get<LineageView>(
    `${path}${query({
      direction: options.descendants ? 'descendants' : 'ancestors',
      asOf,
      limit: options.limit?.toString(),
    })}`,
  );
  if (json) return printJson(view);
  for (const text of lineageTree(view)) console.log(text);
}

/** The options every lineage command takes. */
export function lineageOptions(command: Command): Command {
  return command
    .option('--descendants', 'what derives from it, rather than what it derives from')
    .option('--limit <n>', 'at most this many VMs (descendants)', parseInteger);
}

export function lineageCommands(program: Command): void {
  const lineage = program
    .command('lineage')
    .description('Where a disk, a layer or a package came from, or what derives from it (a tree)');
  const subjects = [
    ['disk <diskId>', 'disks', 'A disk’s: the VM made with it'],
    ['layer <layerId>', 'layers', 'A layer’s: the VM that wrote it or froze it in a snapshot'],
    [
      'package <descriptorSha256>',
      'packages',
      'A package’s (its OVF descriptor’s SHA-256): every VM imported from it',
    ],
  ] as const;
  for (const [usage, collection, description] of subjects)
    lineageOptions(lineage.command(usage).description(description)).action(
      (id: string, options: LineageOptions, command: Command) =>
        showLineage(command, `/${collection}/${segment(id)}/lineage`, options),
    );
}
