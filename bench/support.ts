import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Table from 'cli-table3';

/**
 * Where results go: bench/results/, or BENCH_RESULTS_DIR (a short run's numbers, e.g. a fresh
 * clone's check that every bench runs, then do not replace the full run's).
 */
export const RESULTS_DIR = process.env.BENCH_RESULTS_DIR
  ? resolve(process.env.BENCH_RESULTS_DIR)
  : join(__dirname, 'results');

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function summarise(samples: number[]): {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
} {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    mean,
  };
}

export const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Prints rows as a table and writes the whole result as JSON under RESULTS_DIR. */
export function report(
  name: string,
  rows: (string | number)[][],
  head: string[],
  result: Record<string, unknown>,
): void {
  const table = new Table({ head, style: { head: ['cyan'] } });
  for (const row of rows) table.push(row.map(String));
  console.log(table.toString());
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ benchmark: name, measuredAt: new Date().toISOString(), machine: machine(), ...result }, null, 2)}\n`,
  );
  console.log(`Results written to ${file}`);
}

function machine(): Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const os = require('node:os') as typeof import('node:os');
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryBytes: os.totalmem(),
    node: process.version,
  };
}
