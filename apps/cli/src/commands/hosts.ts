import type { Command } from 'commander';
import type { CommandAccepted } from '../api';
import { context, everyPage, segment } from '../context';
import { runTask, startsTask } from '../follow';
import { type Column, humanBytes, print, printObject } from '../output';
import { parseInteger, parseSize } from '../units';

type Row = Record<string, unknown>;

const HOST_COLUMNS: Column<Row>[] = [
  { header: 'Host id', value: (h) => h.hostId },
  { header: 'Name', value: (h) => h.name },
  { header: 'Cores', value: (h) => h.cpuCores },
  { header: 'Memory', value: (h) => humanBytes(h.memoryBytes as number) },
  { header: 'Max HW', value: (h) => h.maxHardwareVersion },
  { header: 'Management', value: (h) => h.management },
];

export function hostCommands(program: Command): void {
  const hosts = program.command('hosts').description('Compute hosts');
  startsTask(
    hosts
      .command('register')
      .description('Register a compute host')
      .requiredOption('--name <name>')
      .requiredOption('--cpu-cores <n>', 'physical cores', parseInteger)
      .requiredOption('--memory <size>', 'physical memory (e.g. 256GiB)', parseSize)
      .requiredOption('--max-hardware-version <vmx-N>', 'newest virtual hardware it runs')
      .option('--standalone', 'not managed by the management plane', false),
  ).action((options, command: Command) =>
    runTask(command, (client) =>
      client.post<CommandAccepted>('/hosts', {
        name: options.name,
        cpuCores: options.cpuCores,
        memoryBytes: options.memory,
        maxHardwareVersion: options.maxHardwareVersion,
        management: options.standalone ? 'standalone' : 'managed',
      }),
    ),
  );
  hosts
    .command('list')
    .description('List hosts')
    .option('--all', 'every page')
    .action(async (options, command: Command) => {
      const { client, json } = context(command);
      print(await everyPage<Row>(client, '/hosts', options.all), HOST_COLUMNS, json);
    });
  hosts
    .command('get <hostId>')
    .description('Show a host')
    .action(async (hostId: string, _options, command: Command) => {
      const { client, json } = context(command);
      printObject(await client.get<Row>(`/hosts/${segment(hostId)}`), json);
    });
}
