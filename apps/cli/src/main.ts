import { Command, Option } from 'commander';
import { adminCommands } from './commands/admin';
import { auditCommands } from './commands/audit';
import { lineageCommands } from './commands/lineage';
import { datastoreCommands } from './commands/datastores';
import { healthCommand } from './commands/health';
import { inventoryCommands } from './commands/inventory';
import { hostCommands } from './commands/hosts';
import { snapshotCommands } from './commands/snapshots';
import { taskCommands } from './commands/tasks';
import { templateCommands } from './commands/templates';
import { vmCommands } from './commands/vms';
import { packageCommands } from './commands/packages';
import { printProblem } from './problems';

const program = new Command('dolly')
  .description(
    'Command-line client of the Dolly API. Commands that start a task follow it to its end ' +
      '(exit 1 if it failed, 2 if it was cancelled); --no-wait returns at once with its id.',
  )
  .addOption(
    new Option('--api <url>', 'API address').env('DOLLY_API_URL').default('http://127.0.0.1:8080'),
  )
  .addOption(
    new Option('--token <token>', 'bearer token (default: the local stack admin token)').env(
      'DOLLY_TOKEN',
    ),
  )
  .option('--json', 'print JSON for scripts (one document; see --progress)', false)
  .option(
    '--as-of <instant>',
    'read the inventory as it was then: an RFC 3339 time or a global position (vms list, vms get, vms lineage, vms snapshots, vms block-map, lineage, inventory list)',
  )
  .showHelpAfterError();

hostCommands(program);
datastoreCommands(program);
const vms = vmCommands(program);
snapshotCommands(vms);
packageCommands(vms);
templateCommands(program);
taskCommands(program);
inventoryCommands(program);
lineageCommands(program);
auditCommands(program);
adminCommands(program);
healthCommand(program);

program.parseAsync().catch((error: unknown) => {
  printProblem(error);
  process.exit(1);
});
