import type { Command } from 'commander';
import { ApiProblem } from '../client';
import { context } from '../context';
import { printObject } from '../output';

export function healthCommand(program: Command): void {
  program
    .command('health')
    .description('Health of the API and what it depends on')
    .action(async (_options, command: Command) => {
      const { client, json } = context(command);
      try {
        printObject(await client.get<Record<string, unknown>>('/health'), json);
      } catch (error) {
        // 503 carries the report too: show which part is down.
        if (error instanceof ApiProblem && typeof error.body === 'object' && 'checks' in error.body)
          printObject(error.body as Record<string, unknown>, json);
        else throw error;
        process.exitCode = 1;
      }
    });
}
