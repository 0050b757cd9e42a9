import Table from 'cli-table3';

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/** Tables for people, JSON for scripts (--json). */
export function print<T>(rows: T | T[], columns: Column<T>[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const list = Array.isArray(rows) ? rows : [rows];
  const table = new Table({ head: columns.map((c) => c.header), style: { head: ['cyan'] } });
  for (const row of list) table.push(columns.map((c) => String(c.value(row) ?? '')));
  console.log(table.toString());
}

export function printObject(object: Record<string, unknown>, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(object, null, 2));
    return;
  }
  const table = new Table();
  for (const [key, value] of Object.entries(object)) {
    table.push({
      [key]: typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value),
    });
  }
  console.log(table.toString());
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
