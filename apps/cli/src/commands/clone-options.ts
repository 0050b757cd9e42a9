import { type Command, Option } from 'commander';
import { CLONE_FORMATS, type CloneFormat } from '../api';

/** Where a clone goes and how its disks are written: the options every kind of clone takes. */
export interface PlacementOptions {
  name: string;
  folder?: string;
  host?: string;
  datastore?: string;
  format?: CloneFormat;
}

export function withPlacement(command: Command, what: string): Command {
  return command
    .requiredOption('--name <name>', `name of the ${what}`)
    .option('--folder <path>', "inventory folder (default: the source's)")
    .option('--host <hostId>', "host to place it on (default: the source's)")
    .option('--datastore <datastoreId>', "datastore for its disks (default: the source's)")
    .addOption(
      new Option('--format <format>', "disk format of the copy (default: the source's)").choices(
        CLONE_FORMATS,
      ),
    );
}

/** The request body fields for the placement options; unset ones are left to the API. */
export function placementBody(options: PlacementOptions) {
  return {
    name: options.name,
    folder: options.folder,
    hostId: options.host,
    datastoreId: options.datastore,
    format: options.format,
  };
}
