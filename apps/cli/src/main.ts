import { Command, InvalidArgumentError, Option } from 'commander';
import { ApiProblem, DollyClient, defaultToken } from './client';
import { type Column, humanBytes, print, printObject } from './output';
import { parseInteger, parseRatio, parseSize } from './units';

interface GlobalOptions {
  api: string;
  token?: string;
  json: boolean;
  wait?: number;
}

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

type Row = Record<string, unknown>;

const program = new Command('dolly')
  .description('Command-line client of the Dolly API.')
  .addOption(
    new Option('--api <url>', 'API address').env('DOLLY_API_URL').default('http://127.0.0.1:8080'),
  )
  .addOption(
    new Option('--token <token>', 'bearer token (default: the local stack admin token)').env(
      'DOLLY_TOKEN',
    ),
  )
  .option('--json', 'print JSON for scripts', false)
  .option('--wait <seconds>', 'wait for the change to show in the read models', parseInteger, 10)
  .showHelpAfterError();

function context(command: Command): { client: DollyClient; json: boolean } {
  const options = command.optsWithGlobals<GlobalOptions>();
  return {
    client: new DollyClient({
      api: options.api,
      token: options.token ?? defaultToken(),
      wait: options.wait,
    }),
    json: options.json,
  };
}

async function everyPage<T>(client: DollyClient, path: string, all: boolean): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const page: Page<T> = await client.get<Page<T>>(
      cursor ? `${path}${separator}cursor=${encodeURIComponent(cursor)}` : path,
    );
    items.push(...page.items);
    cursor = all ? page.nextCursor : null;
  } while (cursor);
  return items;
}

function query(params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter(
    (entry): entry is [string, string] => entry[1] !== undefined,
  );
  return entries.length ? `?${new URLSearchParams(entries).toString()}` : '';
}

/** A command's answer: the changed object when the API waited for it, else the task. */
function printChange(answer: Row, json: boolean): void {
  if (json) return printObject(answer, true);
  const target = answer.target as Row;
  if (!answer.changed)
    return console.log(`Nothing to change: ${target.type} ${target.id} is already so.`);
  const state = answer.projected ? 'done' : 'recorded (read models catching up)';
  console.log(`${target.type} ${target.id}: ${state}; task ${answer.taskId}`);
  if (answer.resource) printObject(answer.resource as Row, false);
}

const VM_COLUMNS: Column<Row>[] = [
  { header: 'VM id', value: (vm) => vm.vmId },
  { header: 'Name', value: (vm) => vm.name },
  { header: 'Role', value: (vm) => vm.role },
  { header: 'Power', value: (vm) => vm.powerState },
  { header: 'vCPU', value: (vm) => (vm.hardware as Row).vcpus },
  { header: 'Memory', value: (vm) => humanBytes((vm.hardware as Row).memoryBytes as number) },
  {
    header: 'Disks',
    value: (vm) =>
      (vm.disks as Row[])
        .map((d) => `${humanBytes(d.capacityBytes as number)} ${d.format}`)
        .join(', '),
  },
];

const HOST_COLUMNS: Column<Row>[] = [
  { header: 'Host id', value: (h) => h.hostId },
  { header: 'Name', value: (h) => h.name },
  { header: 'Cores', value: (h) => h.cpuCores },
  { header: 'Memory', value: (h) => humanBytes(h.memoryBytes as number) },
  { header: 'Max HW', value: (h) => h.maxHardwareVersion },
  { header: 'Management', value: (h) => h.management },
];

const DATASTORE_COLUMNS: Column<Row>[] = [
  { header: 'Datastore id', value: (d) => d.datastoreId },
  { header: 'Name', value: (d) => d.name },
  { header: 'Capacity', value: (d) => humanBytes(d.capacityBytes as number) },
  { header: 'Overcommit', value: (d) => d.overcommitRatio },
  { header: 'Folder', value: (d) => d.folder },
];

const TASK_COLUMNS: Column<Row>[] = [
  { header: 'Task id', value: (t) => t.taskId },
  { header: 'Operation', value: (t) => t.operation },
  { header: 'Target', value: (t) => `${(t.target as Row).type} ${(t.target as Row).id}` },
  { header: 'Status', value: (t) => t.status },
  { header: '%', value: (t) => (t.progress as Row).percent },
  { header: 'By', value: (t) => (t.actor as Row).id },
  { header: 'Updated', value: (t) => t.updatedAt },
];

const AUDIT_COLUMNS: Column<Row>[] = [
  { header: '#', value: (e) => e.streamVersion },
  { header: 'Event', value: (e) => `${e.type} v${e.schemaVersion}` },
  { header: 'When', value: (e) => e.occurredAt },
  { header: 'Who', value: (e) => `${(e.actor as Row).id} (${(e.actor as Row).role})` },
  { header: 'Data', value: (e) => JSON.stringify(e.data) },
];

const hosts = program.command('hosts').description('Compute hosts');
hosts
  .command('register')
  .description('Register a compute host')
  .requiredOption('--name <name>')
  .requiredOption('--cpu-cores <n>', 'physical cores', parseInteger)
  .requiredOption('--memory <size>', 'physical memory (e.g. 256GiB)', parseSize)
  .requiredOption('--max-hardware-version <vmx-N>', 'newest virtual hardware it runs')
  .option('--standalone', 'not managed by the management plane', false)
  .action(async (options, command: Command) => {
    const { client, json } = context(command);
    const body = {
      name: options.name,
      cpuCores: options.cpuCores,
      memoryBytes: options.memory,
      maxHardwareVersion: options.maxHardwareVersion,
      management: options.standalone ? 'standalone' : 'managed',
    };
    printChange(await client.post<Row>('/hosts', body), json);
  });
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
    printObject(await client.get<Row>(`/hosts/${hostId}`), json);
  });

const datastores = program.command('datastores').description('Datastores');
datastores
  .command('register')
  .description('Register a datastore')
  .requiredOption('--name <name>')
  .requiredOption('--capacity <size>', 'usable capacity (e.g. 2TiB)', parseSize)
  .requiredOption('--folder <path>', 'absolute folder the workers reach')
  .option(
    '--overcommit-ratio <ratio>',
    'how far thin disks may promise beyond capacity',
    parseRatio,
    1,
  )
  .action(async (options, command: Command) => {
    const { client, json } = context(command);
    const body = {
      name: options.name,
      capacityBytes: options.capacity,
      folder: options.folder,
      overcommitRatio: options.overcommitRatio,
    };
    printChange(await client.post<Row>('/datastores', body), json);
  });
datastores
  .command('list')
  .description('List datastores')
  .option('--all', 'every page')
  .action(async (options, command: Command) => {
    const { client, json } = context(command);
    print(await everyPage<Row>(client, '/datastores', options.all), DATASTORE_COLUMNS, json);
  });
datastores
  .command('get <datastoreId>')
  .description('Show a datastore')
  .action(async (id: string, _options, command: Command) => {
    const { client, json } = context(command);
    printObject(await client.get<Row>(`/datastores/${id}`), json);
  });

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

const vms = program.command('vms').description('VMs and templates');
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
  .option('--nic <network>', 'a NIC on this network (repeat for more)', collect)
  .action(async (options, command: Command) => {
    const { client, json } = context(command);
    const body = {
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
    };
    printChange(await client.post<Row>('/vms', body), json);
  });
vms
  .command('list')
  .description('List VMs and templates')
  .option('--role <role>')
  .option('--power-state <state>')
  .option('--host <hostId>')
  .option('--datastore <datastoreId>')
  .option('--all', 'every page')
  .action(async (options, command: Command) => {
    const { client, json } = context(command);
    const path = `/vms${query({ role: options.role, powerState: options.powerState, hostId: options.host, datastoreId: options.datastore })}`;
    print(await everyPage<Row>(client, path, options.all), VM_COLUMNS, json);
  });
vms
  .command('get <vmId>')
  .description('Show a VM')
  .action(async (vmId: string, _options, command: Command) => {
    const { client, json } = context(command);
    printObject(await client.get<Row>(`/vms/${vmId}`), json);
  });
for (const [name, path, description] of [
  ['power-on', 'power-on', 'Power on (or resume) a VM'],
  ['power-off', 'power-off', 'Power off a VM'],
  ['suspend', 'suspend', 'Suspend a running VM'],
  [
    'convert-to-template',
    'convert-to-template',
    'Convert a powered-off VM to a template, in place',
  ],
  ['convert-to-vm', 'convert-to-vm', 'Convert a template back to a VM'],
] as const) {
  vms
    .command(`${name} <vmId>`)
    .description(description)
    .action(async (vmId: string, _options, command: Command) => {
      const { client, json } = context(command);
      printChange(await client.post<Row>(`/vms/${vmId}/${path}`), json);
    });
}
vms
  .command('rename <vmId> <name>')
  .description('Rename a VM or template')
  .action(async (vmId: string, name: string, _options, command: Command) => {
    const { client, json } = context(command);
    printChange(await client.post<Row>(`/vms/${vmId}/rename`, { name }), json);
  });
vms
  .command('delete <vmId>')
  .description('Delete a powered-off VM or a template')
  .action(async (vmId: string, _options, command: Command) => {
    const { client, json } = context(command);
    printChange(await client.delete<Row>(`/vms/${vmId}`), json);
  });
vms
  .command('audit <vmId>')
  .description('Every recorded change to a VM, with who and when')
  .option('--all', 'every page')
  .action(async (vmId: string, options, command: Command) => {
    const { client, json } = context(command);
    print(await everyPage<Row>(client, `/vms/${vmId}/audit-log`, options.all), AUDIT_COLUMNS, json);
  });

const tasks = program.command('tasks').description('Tasks');
tasks
  .command('list')
  .description('List tasks')
  .option('--target <id>')
  .option('--status <status>')
  .option('--all', 'every page')
  .action(async (options, command: Command) => {
    const { client, json } = context(command);
    print(
      await everyPage<Row>(
        client,
        `/tasks${query({ targetId: options.target, status: options.status })}`,
        options.all,
      ),
      TASK_COLUMNS,
      json,
    );
  });
tasks
  .command('get <taskId>')
  .description('Show a task')
  .action(async (taskId: string, _options, command: Command) => {
    const { client, json } = context(command);
    print(await client.get<Row>(`/tasks/${taskId}`), TASK_COLUMNS, json);
  });

program
  .command('health')
  .description('Health of the API and what it depends on')
  .action(async (_options, command: Command) => {
    const { client, json } = context(command);
    try {
      printObject(await client.get<Row>('/health'), json);
    } catch (error) {
      // 503 carries the report too: show which part is down.
      if (error instanceof ApiProblem && typeof error.body === 'object' && 'checks' in error.body)
        printObject(error.body as Row, json);
      else throw error;
      process.exitCode = 1;
    }
  });

program.parseAsync().catch((error: unknown) => {
  if (error instanceof ApiProblem && typeof error.body === 'object') {
    console.error(`Error ${error.status} ${error.body.code ?? ''}: ${error.body.detail ?? ''}`);
    for (const reason of error.body.errors ?? [])
      console.error(`  ${reason.pointer ?? ''} ${reason.detail} (${reason.code})`);
  } else {
    console.error(`Error: ${(error as Error).message}`);
  }
  process.exit(1);
});
