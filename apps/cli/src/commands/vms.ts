import { type Command, InvalidArgumentError } from 'commander';
import type { BlockMap, CommandAccepted, VmView } from '../api';
import { context, everyPage, query, segment } from '../context';
import { runTask, startsTask } from '../follow';
import { type Column, humanBytes, print, printJson, printSection, show } from '../output';
import { printVm } from '../resources';
import { parseInteger, parseSize } from '../units';
import { type PlacementOptions, placementBody, withPlacement } from './clone-options';
import { type LineageOptions, lineageOptions, showLineage } from './lineage';

type Row = Record<string, unknown>;

export const VM_COLUMNS: Column<VmView>[] = [
  { header: 'VM id', value: (vm) => vm.vmId },
  { header: 'Name', value: (vm) => vm.name },
  { header: 'Role', value: (vm) => vm.role },
  { header: 'Power', value: (vm) => vm.powerState },
  { header: 'Lifecycle', value: (vm) => vm.lifecycle },
  { header: 'vCPU', value: (vm) => vm.hardware.vcpus },
  { header: 'Memory', value: (vm) => humanBytes(vm.hardware.memoryBytes) },
  {
    header: 'Disks',
    value: (vm) => vm.disks.map((d) => `${humanBytes(d.capacityBytes)} ${d.format}`).join(', '),
  },
];

const AUDIT_COLUMNS: Column<Row>[] = [
  { header: '#', value: (e) => e.streamVersion },
  { header: 'Event', value: (e) => `${e.type} v${e.schemaVersion}` },
  { header: 'When', value: (e) => e.occurredAt },
  { header: 'Who', value: (e) => `${(e.actor as Row).id} (${(e.actor as Row).role})` },
  { header: 'Data', value: (e) => JSON.stringify(e.data) },
];

const LAYER_COLUMNS: Column<BlockMap['bytesPerLayer'][number]>[] = [
  { header: 'Layer', value: (l) => l.layerId },
  { header: 'Data', value: (l) => humanBytes(l.mappedBytes) },
  { header: 'Shared', value: (l) => (l.shared ? 'yes' : 'no') },
];

const extentColumns = (map: BlockMap): Column<BlockMap['extents'][number]>[] => [
  { header: 'Offset', value: (e) => humanBytes(e.offsetBytes) },
  { header: 'Length', value: (e) => humanBytes(e.lengthBytes) },
  { header: 'Layer', value: (e) => e.layerId },
  { header: 'Own', value: (e) => (e.layerId === map.topLayerId ? 'own' : 'inherited') },
];

function parseDisk(text: string, previous: { capacityBytes: number; format: string }[] = []) {
  const [size, format = 'thin'] = text.split(':');
  if (!['thin', 'thick-lazy-zeroed', 'thick-eager-zeroed'].includes(format)) {
    throw new InvalidArgumentError(
      `disk format '${format}' is not thin, thick-lazy-zeroed or thick-eager-zeroed`,
    );
  }
  return [...previous, { capacityBytes: parseSize(size), format }];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Commands on one VM that take no body and start a task. */
const VM_OPERATIONS = [
  ['power-on', 'Power on (or resume) a VM'],
  ['power-off', 'Power off a VM'],
  ['suspend', 'Suspend a running VM'],
  ['convert-to-template', 'Convert a powered-off VM to a template, in place'],
  ['convert-to-vm', 'Convert a template back to a VM'],
] as const;

const POWER_OPERATIONS: readonly string[] = ['power-on', 'power-off', 'suspend'];
const FORCE_HELP = "admin only: act on a pool's desktop outside its pool (recorded in the event)";

export function vmCommands(program: Command): Command {
  const vms = program.command('vms').description('VMs and templates');
  startsTask(
    vms
      .command('create')
      .description('Create a VM, powered off')
      .requiredOption('--name <name>')
      .requiredOption('--host <hostId>')
      .requiredOption('--datastore <datastoreId>')
      .requiredOption('--vcpus <n>', 'virtual CPUs', parseInteger)
      .requiredOption('--memory <size>', 'memory (e.g. 4GiB)', parseSize)
      .option('--hardware-version <vmx-N>', 'virtual hardware version', 'vmx-19')
      .option('--guest-os <id>', 'guest OS identifier', 'otherLinux64Guest')
      .option('--folder <path>', 'inventory folder', '/')
      .option('--disk <size[:format]>', 'a disk (repeat for more), e.g. 16GiB:thin', parseDisk)
      .option('--nic <network>', 'a NIC on this network (repeat for more)', collect),
  ).action((options, command: Command) =>
    runTask(command, (client) =>
      client.post<CommandAccepted>('/vms', {
        name: options.name,
        folder: options.folder,
        hostId: options.host,
        datastoreId: options.datastore,
        hardware: {
          vcpus: options.vcpus,
          memoryBytes: options.memory,
          hardwareVersion: options.hardwareVersion,
          guestOs: options.guestOs,
        },
        disks: options.disk ?? [],
        nics: (options.nic ?? []).map((network: string) => ({ network })),
      }),
    ),
  );
  vms
    .command('list')
    .description('List VMs and templates')
    .option('--role <role>', 'vm or template')
    .option('--power-state <state>')
    .option('--host <hostId>')
    .option('--datastore <datastoreId>')
    .option('--all', 'every page')
    .action(async (options, command: Command) => {
      const { client, json, asOf } = context(command);
      const path = `/vms${query({ role: options.role, powerState: options.powerState, hostId: options.host, datastoreId: options.datastore, asOf })}`;
      print(await everyPage<VmView>(client, path, options.all), VM_COLUMNS, json);
    });
  vms
    .command('get <vmId>')
    .description('Show a VM: state, lifecycle, disks and their layers, snapshots, live exports')
    .action(async (vmId: string, _options, command: Command) => {
      const { client, json, asOf } = context(command);
      show(await client.get<VmView>(`/vms/${segment(vmId)}${query({ asOf })}`), json, printVm);
    });
  for (const [operation, description] of VM_OPERATIONS) {
    const forcible = POWER_OPERATIONS.includes(operation);
    const subcommand = vms.command(`${operation} <vmId>`).description(description);
    if (forcible) subcommand.option('--force', FORCE_HELP, false);
    startsTask(subcommand).action((vmId: string, options: { force?: boolean }, command: Command) =>
      runTask(command, (client) =>
        client.post<CommandAccepted>(
          `/vms/${segment(vmId)}/${operation}${query({ force: options.force ? 'true' : undefined })}`,
        ),
      ),
    );
  }
  startsTask(vms.command('rename <vmId> <name>').description('Rename a VM or template')).action(
    (vmId: string, name: string, _options, command: Command) =>
      runTask(command, (client) =>
        client.post<CommandAccepted>(`/vms/${segment(vmId)}/rename`, { name }),
      ),
  );
  startsTask(
    vms
      .command('delete <vmId>')
      .description('Delete a powered-off VM or a template')
      .option('--force', FORCE_HELP, false),
  ).action((vmId: string, options: { force: boolean }, command: Command) =>
    runTask(command, (client) =>
      client.delete<CommandAccepted>(
        `/vms/${segment(vmId)}${query({ force: options.force ? 'true' : undefined })}`,
      ),
    ),
  );
  startsTask(
    withPlacement(
      vms
        .command('clone <vmId>')
        .description(
          'Clone a VM (a running one too: the copy is crash-consistent), fully or linked to a snapshot',
        ),
      'clone',
    )
      .option('--power-on', 'power the clone on once it is made', false)
      .option('--linked', 'stand a new delta on a snapshot instead of copying (needs --snapshot)')
      .option('--snapshot <snapshotId>', 'clone the VM as it was at this snapshot'),
  ).action((vmId: string, options: PlacementOptions & Row, command: Command) => {
    if (options.linked && !options.snapshot) {
      command.error('error: --linked needs --snapshot <snapshotId>: a linked clone stands on one');
    }
    return runTask(command, (client) =>
      client.post<CommandAccepted>(`/vms/${segment(vmId)}/clone`, {
        ...placementBody(options),
        powerOn: options.powerOn,
        linked: options.linked,
        snapshotId: options.snapshot,
      }),
    );
  });
  startsTask(
    withPlacement(
      vms
        .command('clone-to-template <vmId>')
        .description('Copy a VM (on or off) to a new template; the VM stays as it is'),
      'template',
    ),
  ).action((vmId: string, options: PlacementOptions, command: Command) =>
    runTask(command, (client) =>
      client.post<CommandAccepted>(
        `/vms/${segment(vmId)}/clone-to-template`,
        placementBody(options),
      ),
    ),
  );
  vms
    .command('block-map <vmId> <diskId>')
    .description(
      'Which layer of its chain each part of a disk is read from, and bytes per layer (now, or --as-of)',
    )
    .option('--summary', 'bytes per layer only, without the extents')
    .action(async (vmId: string, diskId: string, options, command: Command) => {
      const { client, json, asOf } = context(command);
      const map = await client.get<BlockMap>(
        `/vms/${segment(vmId)}/disks/${segment(diskId)}/block-map${query({ asOf })}`,
      );
      if (json) return printJson(map);
      console.log(`Disk ${map.diskId}: ${map.extents.length} extents`);
      printSection('Bytes per layer', map.bytesPerLayer, LAYER_COLUMNS);
      if (!options.summary) printSection('Extents', map.extents, extentColumns(map));
    });
  vms
    .command('audit <vmId>')
    .description('Every recorded change to a VM, with who and when')
    .option('--all', 'every page')
    .action(async (vmId: string, options, command: Command) => {
      const { client, json } = context(command);
      const path = `/vms/${segment(vmId)}/audit-log`;
      print(await everyPage<Row>(client, path, options.all), AUDIT_COLUMNS, json);
    });
  lineageOptions(
    vms
      .command('lineage <vmId>')
      .description(
        'Where a VM came from (clones, forks, snapshot, package), or what derives from it, as a tree',
      ),
  ).action((vmId: string, options: LineageOptions, command: Command) =>
    showLineage(command, `/vms/${segment(vmId)}/lineage`, options),
  );
  return vms;
}
