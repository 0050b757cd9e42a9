import type { Command } from 'commander';
import type { CommandAccepted, VmView } from '../api';
import { context, everyPage, query, segment } from '../context';
import { runTask, startsTask } from '../follow';
import { print } from '../output';
import { parseInteger, parseSize } from '../units';
import { type PlacementOptions, placementBody, withPlacement } from './clone-options';
import { VM_COLUMNS } from './vms';

/** Templates are VMs in the template role: listed from /vms, cloned and deployed from /templates. */
export function templateCommands(program: Command): void {
  const templates = program.command('templates').description('Templates');
  templates
    .command('list')
    .description('List templates')
    .option('--host <hostId>')
    .option('--datastore <datastoreId>')
    .option('--all', 'every page')
    .action(async (options, command: Command) => {
      const { client, json } = context(command);
      const path = `/vms${query({ role: 'template', hostId: options.host, datastoreId: options.datastore })}`;
      print(await everyPage<VmView>(client, path, options.all), VM_COLUMNS, json);
    });
  startsTask(
    withPlacement(
      templates
        .command('clone <templateId>')
        .description('Copy a template to a new template, fully or linked to its frozen disks'),
      'new template',
    ).option('--linked', "stand on the template's disks instead of copying them"),
  ).action((templateId: string, options: PlacementOptions & { linked?: boolean }, command) =>
    runTask(command, (client) =>
      client.post<CommandAccepted>(`/templates/${segment(templateId)}/clone`, {
        ...placementBody(options),
        linked: options.linked,
      }),
    ),
  );
  startsTask(
    withPlacement(
      templates
        .command('deploy <templateId>')
        .description('Deploy a VM from a template, with other hardware if asked'),
      'VM',
    )
      .option('--linked', "stand on the template's disks instead of copying them")
      .option('--vcpus <n>', "virtual CPUs (default: the template's)", parseInteger)
      .option('--memory <size>', "memory, e.g. 4GiB (default: the template's)", parseSize)
      .option('--power-on', 'power the VM on once it is made', false),
  ).action((templateId: string, options: DeployOptions, command) => {
    const overridden = options.vcpus !== undefined || options.memory !== undefined;
    return runTask(command, (client) =>
      client.post<CommandAccepted>(`/templates/${segment(templateId)}/deploy`, {
        ...placementBody(options),
        linked: options.linked,
        hardware: overridden ? { vcpus: options.vcpus, memoryBytes: options.memory } : undefined,
        powerOn: options.powerOn,
      }),
    );
  });
}

interface DeployOptions extends PlacementOptions {
  linked?: boolean;
  vcpus?: number;
  memory?: number;
  powerOn: boolean;
}
