import { appendFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DiskEngineEvent } from '../model/events';
import { type OperationLogEntry } from '../model/operation-log';
import { type Sandbox, sandbox } from '../testing/fixtures';
import { DatastoreStore, METADATA_DIR } from './datastore-store';

let box: Sandbox;
beforeEach(async () => {
  box = await sandbox('store');
});
afterEach(() => box.cleanup());

const intent = { events: [], temporaryFiles: [], publishedFiles: [], removedFiles: [] };
const started = (operationId: string): OperationLogEntry => ({
  phase: 'started',
  operationId,
  kind: 'test',
  datastoreId: 'ds1',
  fingerprint: 'f',
  at: 't',
  intent,
});
const frozen: DiskEngineEvent = {
  type: 'LayerFrozen',
  data: { datastoreId: 'ds1', layerId: 'L1' },
};
const committed = (
  operationId: string,
  events: DiskEngineEvent[] = [frozen],
): OperationLogEntry => ({
  phase: 'committed',
  operationId,
  at: 't',
  events,
  result: { operationId },
});
const layer: DiskEngineEvent = {
  type: 'LayerCreated',
  data: {
    layerId: 'L1',
    datastoreId: 'ds1',
    fileName: 'L1.qcow2',
    kind: 'disk',
    format: 'thin',
    capacityBytes: 512,
    clusterSizeBytes: 65536,
    backingLayerId: null,
    frozen: false,
    quarantined: false,
    createdAt: 't',
  },
};

async function segmentPath(): Promise<string> {
  const dir = join(box.datastorePath, METADATA_DIR);
  const name = (await readdir(dir)).find((n) => n.startsWith('oplog.'))!;
  return join(dir, name);
}

it('replays what was logged, in a log grown ahead in zeros', async () => {
  const store = new DatastoreStore('ds1', box.datastorePath);
  await store.load();
  await store.append(started('op1'));
  await store.append(committed('op1', [layer]));
  await store.append(started('op2'));
  await store.append(committed('op2'));
  await store.close();
  expect((await stat(await segmentPath())).size).toBeGreaterThanOrEqual(1024 * 1024);

  const reader = new DatastoreStore('ds1', box.datastorePath);
  const again = await reader.load();
  await reader.close();
  expect(again.graph.layers.L1).toMatchObject({ frozen: true });
  expect([...again.records.values()].map((r) => r.status)).toEqual(['committed', 'committed']);
  expect(again.tornTailBytes).toBe(0);
});

it('cuts a line torn by a crash, and what is appended after it reads back', async () => {
  const store = new DatastoreStore('ds1', box.datastorePath);
  await store.load();
  await store.append(started('op1'));
  await store.close();
  // A crash mid-append: half a line where the next entry was going.
  const path = await segmentPath();
  const bytes = await readFile(path);
  const end = bytes.indexOf(0);
  const torn = Buffer.from('{"seq":2,"phase":"committed","operat');
  torn.copy(bytes, end);
  await writeFile(path, bytes);

  const reopened = new DatastoreStore('ds1', box.datastorePath);
  const loaded = await reopened.load();
  expect(loaded.tornTailBytes).toBe(torn.length);
  expect(loaded.records.get('op1')?.status).toBe('started');
  await reopened.append(committed('op1', []));
  await reopened.close();
  const reader = new DatastoreStore('ds1', box.datastorePath);
  const last = await reader.load();
  await reader.close();
  expect(last.records.get('op1')?.status).toBe('committed');
  expect(last.tornTailBytes).toBe(0);
});

it('a torn line anywhere but at the end is corruption, not a crash, and is refused', async () => {
  const store = new DatastoreStore('ds1', box.datastorePath);
  await store.load();
  await store.append(started('op1'));
  await store.checkpoint({ layers: {}, disks: {} }, new Map(), 't', true);
  await store.append(started('op2'));
  await store.close();
  const dir = join(box.datastorePath, METADATA_DIR);
  const segments = (await readdir(dir)).filter((n) => n.startsWith('oplog.')).sort();
  expect(segments).toHaveLength(1); // the checkpoint removed the segment it covers
  await appendFile(join(dir, 'oplog.0.jsonl'), 'not json\n{"seq":1}\n');
  await expect(new DatastoreStore('ds1', box.datastorePath).load()).rejects.toThrow();
});
