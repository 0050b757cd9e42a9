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

describe('shared by several engines', () => {
  // Two stores on one folder stand for two processes: their lock files are opened separately,
  // and open file description locks conflict between them as between processes.
  const twoStores = async () => {
    const a = new DatastoreStore('ds1', box.datastorePath, 200);
    const b = new DatastoreStore('ds1', box.datastorePath, 200);
    await a.load();
    await b.load();
    return [a, b] as const;
  };
  const foldedBy = (store: DatastoreStore) => {
    const changes = store.readNew(false);
    if (changes.kind !== 'entries') throw new Error('expected entries');
    return changes.entries.map((e) => `${e.seq} ${e.operationId} ${e.phase}`);
  };

  it('each reads what the other appended, and their appends make one series', async () => {
    const [a, b] = await twoStores();
    await a.locked(async () => {
      a.readNew(true);
      await a.append(started('op1'));
    });
    await b.locked(async () => {
      expect(b.readNew(true)).toEqual({
        kind: 'entries',
        entries: [expect.objectContaining({ seq: 1, operationId: 'op1' })],
      });
      await b.append(committed('op1', [layer]));
    });
    expect(foldedBy(a)).toEqual(['2 op1 committed']);
    expect(foldedBy(a)).toEqual([]);
    await Promise.all([a.close(), b.close()]);
    const replayed = new DatastoreStore('ds1', box.datastorePath);
    expect((await replayed.load()).records.get('op1')?.status).toBe('committed');
    await replayed.close();
  });

  it('one section at a time: the other waits, then fails with DISK.BUSY past its timeout', async () => {
    const [a, b] = await twoStores();
    let release!: () => void;
    const held = a.locked(() => new Promise<void>((resolve) => (release = resolve)));
    await expect(b.locked(async () => undefined)).rejects.toMatchObject({ code: 'DISK.BUSY' });
    release();
    await held;
    await expect(b.locked(async () => 'mine')).resolves.toBe('mine');
    await Promise.all([a.close(), b.close()]);
  });

  it('a reader that slept through two checkpoints reloads from the manifest', async () => {
    const [a, b] = await twoStores();
    await a.locked(async () => {
      a.readNew(true);
      const checkpoint = () =>
        a.checkpoint(
          { layers: { L1: { ...layer.data, frozen: true } as never }, disks: {} },
          new Map(),
          't',
          true,
        );
      await a.append(started('op1'));
      await a.append(committed('op1', [layer]));
      await checkpoint();
      await a.append(started('op2'));
      await a.append(committed('op2'));
      await checkpoint();
      await a.append(started('op3'));
    });
    const changes = b.readNew(false);
    expect(changes.kind).toBe('reload');
    if (changes.kind === 'reload') {
      expect(changes.loaded.graph.layers.L1).toMatchObject({ frozen: true });
      expect(changes.loaded.records.get('op3')?.status).toBe('started');
    }
    // And b appends after what a wrote, in the newest segment.
    await b.locked(async () => {
      b.readNew(true);
      await b.append(committed('op3', []));
    });
    expect(foldedBy(a)).toEqual(['6 op3 committed']);
    await Promise.all([a.close(), b.close()]);
  });

  it('without the lock a line still being written is left for later; with it, it is cut', async () => {
    const [a, b] = await twoStores();
    await a.locked(async () => {
      a.readNew(true);
      await a.append(started('op1'));
    });
    const path = await segmentPath();
    const bytes = await readFile(path);
    const end = bytes.indexOf(0);
    Buffer.from('{"seq":2,"phase":"committed"').copy(bytes, end);
    await writeFile(path, bytes);
    expect(foldedBy(b)).toEqual(['1 op1 started']);
    expect(foldedBy(b)).toEqual([]);
    await b.locked(async () => {
      expect(b.readNew(true)).toEqual({ kind: 'entries', entries: [] });
      await b.append(committed('op1'));
    });
    expect(b.takeTornTailBytes()).toBeGreaterThan(0);
    expect(foldedBy(a)).toEqual(['2 op1 committed']);
    await Promise.all([a.close(), b.close()]);
  });
});
