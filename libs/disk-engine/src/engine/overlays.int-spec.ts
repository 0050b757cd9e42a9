import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Layer } from '../model/layer-graph';
import { metadataPaths } from '../store/datastore-store';
import { OverlayFactory } from './overlays';

const MiB = 1024 * 1024;

function datastoreWithBase(root: string): Layer {
  mkdirSync(metadataPaths(root).templates, { recursive: true });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(root, 'base.qcow2'), '16M']);
  return {
    layerId: 'base',
    datastoreId: root,
    fileName: 'base.qcow2',
    kind: 'disk',
    format: 'thin',
    capacityBytes: 16 * MiB,
    clusterSizeBytes: 65536,
    backingLayerId: null,
    frozen: true,
    quarantined: false,
    createdAt: new Date(0).toISOString(),
  } as Layer;
}

const sparesIn = (root: string) => readdirSync(root).filter((name) => name.includes('spare-'));

describe('spare overlays at stop', () => {
  let scratch: string;
  beforeEach(() => {
    scratch = mkdtempSync(join(tmpdir(), 'dolly-spares-'));
  });
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  it('are all removed, even when one datastore’s folder has gone (a file in its place)', async () => {
    const [gone, kept] = ['gone', 'kept'].map((name) => join(scratch, name));
    const factory = new OverlayFactory('owner-1');
    const bases = [gone, kept].map(datastoreWithBase);
    await factory.write(gone, bases[0], join(gone, 'clone-a.qcow2'));
    await factory.write(kept, bases[1], join(kept, 'clone-b.qcow2'));
    // The spares are written ahead, off the caller's path: wait until both are full.
    for (let i = 0; i < 100 && (sparesIn(gone).length < 4 || sparesIn(kept).length < 4); i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sparesIn(kept)).toHaveLength(4);

    renameSync(gone, `${gone}.aside`);
    writeFileSync(gone, 'not a datastore');
    await expect(factory.close()).rejects.toMatchObject({ code: 'ENOTDIR' });

    expect(sparesIn(kept)).toEqual([]);
    expect(readdirSync(kept).sort()).toEqual(['.dolly', 'base.qcow2', 'clone-b.qcow2']);
  });

  it('belong to one template per base, however many overlays of a new base are asked at once', async () => {
    const root = join(scratch, 'ds');
    const base = datastoreWithBase(root);
    const factory = new OverlayFactory('owner-1');
    // Concurrent forks of a base not loaded yet: each must find the one template, not make its
    // own (a template replaced in the map kept refilling spares that no stop would remove).
    await Promise.all(
      Array.from({ length: 6 }, (_, i) => factory.write(root, base, join(root, `fork-${i}.qcow2`))),
    );
    for (let i = 0; i < 100 && sparesIn(root).length < 4; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(sparesIn(root)).toHaveLength(4);
    await factory.close();
    expect(sparesIn(root)).toEqual([]);
  });

  it('are not made for a base whose template was let go', async () => {
    const factory = new OverlayFactory('owner-1');
    // More bases than templates kept, written at once: the oldest are let go while their
    // overlays are being written, and their spares with them.
    const roots = Array.from({ length: 20 }, (_, i) => join(scratch, `ds-${i}`));
    const bases = roots.map(datastoreWithBase);
    await Promise.all(
      roots.map((root, i) => factory.write(root, bases[i], join(root, 'clone.qcow2'))),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    await factory.close();
    expect(roots.flatMap(sparesIn)).toEqual([]);
  });
});
