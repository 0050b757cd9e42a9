import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { QemuDiskEngine } from '../engine/qemu-disk-engine';
import * as qemuImg from '../qemu/qemu-img';
import { type Sandbox, GIB, MIB, opId, sandbox, startEngine } from '../testing/fixtures';
import { gatherFolderFacts, inspectDatastoreFolder } from './datastore-folder';

let box: Sandbox;
beforeEach(async () => {
  box = await sandbox('folder');
});
afterEach(() => box.cleanup());

/** The sandbox's datastore, initialised by an engine that made disk d1 there and stopped. */
async function datastoreWithOneDisk(): Promise<void> {
  const engine = await startEngine(box);
  await engine.createDisk({
    operationId: opId(),
    datastoreId: 'ds1',
    diskId: 'd1',
    capacityBytes: GIB,
    format: 'thin',
  });
  await engine.stop();
}

const identity = (folder: string) => join(folder, '.dolly', 'datastore.json');

/** The engine starts without the datastore it refuses, and names it with the code why. */
async function refusal(box: Sandbox): Promise<string> {
  const { engine, report } = await QemuDiskEngine.start(box.config());
  await engine.stop();
  expect(report.inaccessible.map((d) => d.datastoreId)).toEqual(['ds1']);
  return report.inaccessible[0].code;
}

describe('an engine touches only folders it initialised', () => {
  it('refuses a folder holding somebody’s files, and moves none of them', async () => {
    await writeFile(join(box.datastorePath, 'passwords.txt'), 'hunter2');
    // An image that check would quarantine in a datastore of its own.
    await qemuImg.create({
      file: join(box.datastorePath, 'thesis.qcow2'),
      capacityBytes: 64 * MIB,
      clusterSizeBytes: 64 * 1024,
      format: 'thin',
    });

    expect(await refusal(box)).toBe('DISK.DATASTORE_NOT_EMPTY');

    expect((await readdir(box.datastorePath)).sort()).toEqual(['passwords.txt', 'thesis.qcow2']);
    expect(await readFile(join(box.datastorePath, 'passwords.txt'), 'utf8')).toBe('hunter2');
  });

  it('refuses a folder holding another datastore, touching nothing', async () => {
    const engine = await startEngine(box, {
      datastores: [{ datastoreId: 'other', path: box.datastorePath }],
    });
    await engine.stop();
    const before = await readdir(join(box.datastorePath, '.dolly'));

    expect(await refusal(box)).toBe('DISK.DATASTORE_FOREIGN');

    expect(await readdir(join(box.datastorePath, '.dolly'))).toEqual(before);
    expect(JSON.parse(await readFile(identity(box.datastorePath), 'utf8')).datastoreId).toBe(
      'other',
    );
  });

  it('initialises an empty folder as its datastore, and knows it again', async () => {
    await datastoreWithOneDisk();
    expect(JSON.parse(await readFile(identity(box.datastorePath), 'utf8')).datastoreId).toBe('ds1');

    const again = await startEngine(box);
    expect(again.inventory().disks.map((disk) => disk.diskId)).toEqual(['d1']);
    await again.stop();
  });

  it('takes a folder whose identity another worker is writing at this moment for an empty one', async () => {
    await mkdir(join(box.datastorePath, '.dolly'), { recursive: true });
    await writeFile(join(box.datastorePath, '.dolly', '.datastore.json.0a1b2c3d.tmp'), '{');
    expect(await inspectDatastoreFolder(box.datastorePath)).toEqual({ kind: 'empty' });

    await writeFile(join(box.datastorePath, '.dolly', 'notes.txt'), 'mine');
    expect((await inspectDatastoreFolder(box.datastorePath)).kind).toBe('files');
  });

  it('recognises a datastore initialised before identity files, by its log', async () => {
    await datastoreWithOneDisk();
    await rm(identity(box.datastorePath));

    expect(await inspectDatastoreFolder(box.datastorePath)).toEqual({
      kind: 'datastore',
      datastoreId: 'ds1',
    });
    const again = await startEngine(box);
    await again.stop();
    expect(existsSync(identity(box.datastorePath))).toBe(true);
  });
});

describe('what a folder is', () => {
  it('resolves a symlink that leads out of a root', async () => {
    const root = join(box.dir, 'root');
    await mkdir(root);
    await symlink('/etc', join(root, 'escape'));

    const facts = await gatherFolderFacts(join(root, 'escape'), [root]);

    expect(facts.canonical).toBe('/etc');
    // Outside every root nothing is looked at: no folder outside them reveals what it holds.
    expect(facts.contents.kind).toBe('not-looked-at');
  });

  it('tells an absent folder, a file, and a path through a file', async () => {
    const file = join(box.dir, 'notes.txt');
    await writeFile(file, 'x');

    expect(await inspectDatastoreFolder(join(box.dir, 'nothing'))).toEqual({ kind: 'absent' });
    expect(await inspectDatastoreFolder(file)).toEqual({ kind: 'not-a-folder' });
    expect((await inspectDatastoreFolder(join(file, 'below'))).kind).toBe('unreadable');
  });

  it('resolves a folder still to be made through its existing parent', async () => {
    const root = join(box.dir, 'root');
    await mkdir(root);
    await symlink(root, join(box.dir, 'link'));

    const facts = await gatherFolderFacts(join(box.dir, 'link', 'a', 'b'), [join(box.dir, 'link')]);

    expect(facts).toEqual({
      requested: join(box.dir, 'link', 'a', 'b'),
      canonical: join(root, 'a', 'b'),
      roots: [root],
      contents: { kind: 'absent' },
    });
  });
});
