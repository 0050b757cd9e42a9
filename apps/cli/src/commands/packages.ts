import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { IMPORT_DISK_FORMATS } from '@dolly/domain';
import type { CommandAccepted, VmView } from '../api';
import { context, query, segment } from '../context';
import { download } from '../download';
import { printJson } from '../output';
import { byteProgress } from '../progress';
import { printVm } from '../resources';

/** `--network src=dst` and `--property k=v`, repeated, into a map (the first = splits). */
function pairs(what: string) {
  return (text: string, previous: Record<string, string> = {}) => {
    const at = text.indexOf('=');
    if (at <= 0) throw new InvalidArgumentError(`${what} '${text}' is not name=value`);
    return { ...previous, [text.slice(0, at)]: text.slice(at + 1) };
  };
}

interface ImportOptions {
  host: string;
  datastore: string;
  name: string;
  folder?: string;
  format?: (typeof IMPORT_DISK_FORMATS)[number];
  template?: boolean;
  network?: Record<string, string>;
  property?: Record<string, string>;
  deploymentOption?: string;
  virtualSystem?: string;
  requireCertificate?: boolean;
}

/** One part of the multipart upload: bytes in memory, or a file streamed from disk. */
type Part = { bytes: Buffer } | { path: string; sizeBytes: number };

/**
 * The files an OVF's descriptor names (References' hrefs and their chunks), with its manifest
 * and certificate: each is sent by name after the .ovf. The API and worker check every name; a
 * name with a folder in it is left for them to refuse rather than read from elsewhere here.
 */
async function ovfCompanions(ovfPath: string): Promise<string[]> {
  const xml = await readFile(ovfPath, 'utf8');
  const folder = dirname(ovfPath);
  const base = basename(ovfPath).replace(/\.ovf$/i, '');
  const hrefs = [...xml.matchAll(/\bhref\s*=\s*"([^"]+)"/g)].map((m) => m[1]);
  const names = new Set<string>();
  const exists = (name: string) =>
    stat(join(folder, name)).then(
      (s) => s.isFile(),
      () => false,
    );
  for (const href of hrefs) {
    if (href.includes('/') || href.includes('\\')) continue;
    if (await exists(href)) names.add(href);
    // ovf:chunkSize splits a file into <href>.000000000, .000000001, ...
    for (let chunk = 0; await exists(`${href}.${String(chunk).padStart(9, '0')}`); chunk++)
      names.add(`${href}.${String(chunk).padStart(9, '0')}`);
  }
  for (const extra of [`${base}.mf`, `${base}.cert`]) if (await exists(extra)) names.add(extra);
  return [...names];
}

function partHeader(boundary: string, name: string, filename?: string): Buffer {
  const disposition = filename
    ? `form-data; name="${name}"; filename="${filename.replace(/["\r\n]/g, '_')}"`
    : `form-data; name="${name}"`;
  const type = filename ? 'application/octet-stream' : 'application/json';
  return Buffer.from(
    `--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: ${type}\r\n\r\n`,
  );
}

/** The upload, spec first, then the package's files, as parts streamed from disk. */
async function uploadParts(file: string, spec: unknown, boundary: string): Promise<Part[]> {
  const files = file.toLowerCase().endsWith('.ovf')
    ? [file, ...(await ovfCompanions(file)).map((name) => join(dirname(file), name))]
    : [file];
  const parts: Part[] = [
    { bytes: partHeader(boundary, 'spec') },
    { bytes: Buffer.from(`${JSON.stringify(spec)}\r\n`) },
  ];
  for (const path of files) {
    parts.push({ bytes: partHeader(boundary, 'package', basename(path)) });
    parts.push({ path, sizeBytes: (await stat(path)).size });
    parts.push({ bytes: Buffer.from('\r\n') });
  }
  parts.push({ bytes: Buffer.from(`--${boundary}--\r\n`) });
  return parts;
}

async function* partBytes(parts: Part[], sent: (n: number) => void): AsyncGenerator<Buffer> {
  for (const part of parts) {
    if ('bytes' in part) {
      sent(part.bytes.length);
      yield part.bytes;
      continue;
    }
    for await (const chunk of createReadStream(part.path, { highWaterMark: 1024 * 1024 })) {
      sent((chunk as Buffer).length);
      yield chunk as Buffer;
    }
  }
}

export function packageCommands(vms: Command): Command {
  vms
    .command('import <package>')
    .description(
      'Import an OVA, or an OVF with its files, as a VM or template (uploaded as it is read; checked before anything is made)',
    )
    .requiredOption('--host <hostId>', 'host to register it on')
    .requiredOption('--datastore <datastoreId>', 'datastore for its disks')
    .requiredOption('--name <name>', 'name of the new VM or template')
    .option('--folder <path>', 'inventory folder', '/')
    .addOption(
      new Option('--format <format>', 'disk format (as-in-package: thin, or thick for flat/raw)')
        .choices(IMPORT_DISK_FORMATS)
        .default('as-in-package'),
    )
    .option('--template', 'import as a template', false)
    .option(
      '--network <src=dst>',
      'map a package network to a port group (repeat)',
      pairs('network'),
    )
    .option('--property <key=value>', 'a product property value (repeat)', pairs('property'))
    .option('--deployment-option <id>', 'a configuration of the package')
    .option('--virtual-system <id>', 'the VirtualSystem to import from a collection')
    .option('--require-certificate', 'refuse the package unless its manifest is signed', false)
    .action(async (file: string, options: ImportOptions, command: Command) => {
      if (!/\.(ova|ovf)$/i.test(file)) command.error(`error: ${file} is not an .ova or .ovf`);
      const { client, json } = context(command);
      const spec = {
        hostId: options.host,
        datastoreId: options.datastore,
        name: options.name,
        folder: options.folder,
        role: options.template ? 'template' : 'vm',
        diskFormat: options.format,
        networkMapping: options.network,
        properties: options.property,
        deploymentOption: options.deploymentOption,
        virtualSystemId: options.virtualSystem,
        requireCertificate: options.requireCertificate || undefined,
      };
      const boundary = `dolly-${randomBytes(16).toString('hex')}`;
      const parts = await uploadParts(file, spec, boundary);
      const total = parts.reduce(
        (sum, p) => sum + ('bytes' in p ? p.bytes.length : p.sizeBytes),
        0,
      );
      const progress = byteProgress(process.stderr, `Uploading ${basename(file)}`, total);
      let answer: CommandAccepted;
      try {
        const body = Readable.toWeb(
          Readable.from(partBytes(parts, (n) => progress.add(n))),
        ) as ReadableStream<Uint8Array>;
        const response = await client.exchange('POST', '/vms/import', {
          headers: {
            'content-type': `multipart/form-data; boundary=${boundary}`,
            accept: 'application/json',
          },
          body,
        });
        answer = (await response.json()) as CommandAccepted;
      } finally {
        progress.stop();
      }
      if (json) return printJson(answer);
      if (answer.resource) {
        console.log(`Imported ${basename(file)} (task ${answer.taskId}).`);
        printVm(answer.resource as VmView);
      } else {
        console.log(
          `${basename(file)} was uploaded; task ${answer.taskId} is finishing the import: dolly tasks watch ${answer.taskId}`,
        );
      }
    });

  vms
    .command('export <vmId>')
    .description('Export a powered-off VM or a template (or a snapshot of a running VM) as an OVA')
    .requiredOption('-o, --output <file.ova>', 'where to write the OVA')
    .option('--snapshot <snapshotId>', 'export the VM as at this snapshot (needed while it runs)')
    .action(
      async (vmId: string, options: { output: string; snapshot?: string }, command: Command) => {
        const { client } = context(command);
        await download(
          client,
          `/vms/${segment(vmId)}/export.ova${query({ snapshotId: options.snapshot })}`,
          { output: options.output, accept: 'application/x-tar', label: 'Exporting' },
        );
        console.error(`Exported ${vmId} to ${options.output}`);
      },
    );
  return vms;
}
