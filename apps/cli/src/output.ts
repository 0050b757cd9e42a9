import Table from 'cli-table3';

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/**
 * Colours only on a terminal: cli-table3's colour library turns them on even in a pipe or a file
 * (it asks whether colours are supported without naming the stream), so say it here.
 */
function tableStyle(head: string[] = []): { head: string[]; border?: string[] } {
  const plain = !process.stdout.isTTY || 'NO_COLOR' in process.env;
  return plain ? { head: [], border: [] } : { head };
}

/** One JSON document on stdout: what --json prints, for scripts to parse. */
export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** The object as JSON for scripts (--json), else as `human` shows it to a person. */
export function show<T>(value: T, json: boolean, human: (value: T) => void): void {
  if (json) printJson(value);
  else human(value);
}

/** Tables for people, JSON for scripts (--json). */
export function print<T>(rows: T | T[], columns: Column<T>[], json: boolean): void {
  if (json) return printJson(rows);
  const list = Array.isArray(rows) ? rows : [rows];
  const table = new Table({ head: columns.map((c) => c.header), style: tableStyle(['cyan']) });
  for (const row of list) table.push(columns.map((c) => String(c.value(row) ?? '')));
  console.log(table.toString());
}

export function printObject(object: Record<string, unknown>, json: boolean): void {
  if (json) return printJson(object);
  printDetails(
    Object.entries(object).map(([key, value]) => [
      key,
      typeof value === 'object' && value !== null ? JSON.stringify(value) : value,
    ]),
  );
}

/** A two-column table of labelled values, for one object shown to a person. */
export function printDetails(pairs: [label: string, value: unknown][]): void {
  const table = new Table({ style: tableStyle() });
  for (const [label, value] of pairs) table.push({ [label]: String(value ?? '—') });
  console.log(table.toString());
}

/** A titled table that is left out when it has no rows (a VM without NICs shows no NIC table). */
export function printSection<T>(title: string, rows: T[], columns: Column<T>[]): void {
  if (rows.length === 0) return;
  console.log(title);
  print(rows, columns, false);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function humanBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${UNITS[unit]}`;
}

/** `512 MiB / 1 GiB` done of a total, or nothing while the total is not known (zero). */
export function doneOf(doneBytes: number, totalBytes: number): string {
  return totalBytes > 0 ? `${humanBytes(doneBytes)} / ${humanBytes(totalBytes)}` : '';
}

/** `4,000 / 10,000 links`, or `4,000 links` while the total is not known. */
export function countOf(done: number, total: number | null, noun: string): string {
  return `${done.toLocaleString('en')}${total ? ` / ${total.toLocaleString('en')}` : ''} ${noun}`;
}

/**
 * How far a task got in its unit: `512 MiB / 1 GiB` (bytes), `120,000 / 1,000,049 events at
 * 8,764/s` (a rebuild's events, with the rate when said); nothing while the total is not known.
 */
export function progressAmount(progress: {
  unit: 'bytes' | 'events';
  done: number;
  total: number;
  perSecond: number | null;
}): string {
  if (progress.unit === 'bytes') return doneOf(progress.done, progress.total);
  if (progress.total <= 0) return '';
  const rate = progress.perSecond
    ? ` at ${Math.round(progress.perSecond).toLocaleString('en')}/s`
    : '';
  return `${countOf(progress.done, progress.total, 'events')}${rate}`;
}

/** `25%` of a whole, or nothing when the whole is zero. */
export function share(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((100 * part) / whole)}%` : '';
}
