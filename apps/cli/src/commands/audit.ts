import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { type Command, Option } from 'commander';
import type { ChainVerificationLine, ChainVerificationView } from '../api';
import { context, query } from '../context';
import { download } from '../download';
import { countOf, printDetails, printJson } from '../output';
import { type AmountProgress, amountProgress } from '../progress';

const links = (done: number, total: number | null) => countOf(done, total, 'links');

/** The verdict for a person: intact or the first broken link, and what the checkpoints vouch for. */
function printVerification(result: ChainVerificationView): void {
  const broken = result.firstBreak;
  const latest = result.checkpoints.latest;
  printDetails([
    ['history', result.intact ? 'intact' : 'BROKEN'],
    ['links verified', result.linksVerified.toLocaleString('en')],
    ['chain head', `link ${result.head.chainSeq}, ${result.head.chainHash}`],
    ['checkpoints verified', result.checkpoints.verified],
    ['checkpoints of unknown keys', result.checkpoints.unknownKey],
    [
      'signed up to',
      latest ? `link ${latest.chainSeq} at ${latest.signedAt} (key ${latest.keyId})` : null,
    ],
    ...(broken
      ? ([
          ['first broken link', broken.chainSeq],
          ['what is wrong', `${broken.code}: ${broken.detail}`],
          [
            'event',
            broken.streamId
              ? `${broken.streamId} version ${broken.streamVersion} (global position ${broken.globalPosition})`
              : null,
          ],
        ] as [string, unknown][])
      : []),
  ]);
}

export function auditCommands(program: Command): Command {
  const audit = program.command('audit').description('Check the recorded history');

  audit
    .command('verify')
    .description(
      'Check every event against its hash chains and the signed checkpoints, naming the first ' +
        'broken link (exit 1 when the history is not intact)',
    )
    .action(async (_options, command: Command) => {
      const { client, json } = context(command);
      const interrupted = new AbortController();
      const onInterrupt = () => interrupted.abort();
      process.on('SIGINT', onInterrupt);
      let progress: AmountProgress | undefined;
      let result: ChainVerificationView | undefined;
      try {
        const response = await client.exchange('GET', '/audit/chain', {
          headers: { accept: 'application/x-ndjson' },
          signal: interrupted.signal,
        });
        const lines = createInterface({
          input: Readable.fromWeb(response.body! as NodeReadableStream),
          crlfDelay: Infinity,
        });
        let verified = 0;
        for await (const text of lines) {
          if (!text) continue;
          const line = JSON.parse(text) as ChainVerificationLine;
          if ('error' in line) throw new Error(`The verification stopped: ${line.error.detail}`);
          if ('result' in line) {
            result = line.result;
            continue;
          }
          progress ??= json
            ? undefined
            : amountProgress(process.stderr, 'Verifying', line.linksTotal, links, 100_000);
          progress?.add(line.linksVerified - verified);
          verified = line.linksVerified;
        }
      } finally {
        progress?.stop();
        process.off('SIGINT', onInterrupt);
      }
      if (!result) throw new Error('The API ended the verification without a result');
      if (json) printJson(result);
      else printVerification(result);
      if (!result.intact) process.exitCode = 1;
    });

  audit
    .command('export')
    .description(
      'Export the audit log (who, what, when, correlation, outcome) as JSON lines or CSV, ' +
        'oldest first; every filter given must hold',
    )
    .option('--vm <vmId>', "a VM's history")
    .option('--pool <poolId>', "a pool's history and what its commands caused")
    .option('--principal <name>', 'what this principal did')
    .option('--from <time>', 'changes at or after this instant (RFC 3339)')
    .option('--to <time>', 'changes before this instant (RFC 3339)')
    .addOption(new Option('--format <format>', 'jsonl or csv').choices(['jsonl', 'csv']))
    .option('-o, --output <file>', 'write to this file (default: standard output)')
    .action(async (options: AuditExportOptions, command: Command) => {
      const { client } = context(command);
      const format = options.format ?? (options.output?.endsWith('.csv') ? 'csv' : 'jsonl');
      const path = `/audit${query({
        vmId: options.vm,
        poolId: options.pool,
        principal: options.principal,
        from: options.from,
        to: options.to,
        format,
      })}`;
      await download(client, path, { output: options.output, label: 'Exporting' });
      if (options.output) console.error(`Exported the audit log to ${options.output}`);
    });
  return audit;
}

interface AuditExportOptions {
  vm?: string;
  pool?: string;
  principal?: string;
  from?: string;
  to?: string;
  format?: 'jsonl' | 'csv';
  output?: string;
}
