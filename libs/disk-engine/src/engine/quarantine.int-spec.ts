/**
 * What check quarantined can be looked at and taken back, by an operator, once it is sound again:
 * checked again by the real qemu-img before it is restored; restored from the bottom up; never
 * through a name that is not a quarantined layer's (`..`, slashes, a moved-aside file), never
 * through a symlink put in its place.
 */
import { copyFile, open, rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MIB, type Sandbox, opId, pattern, sandbox } from '../testing/fixtures';
import { QemuDiskEngine } from './qemu-disk-engine';

jest.setTimeout(120_000);

let box: Sandbox;
let engine: QemuDiskEngine | undefined;
beforeEach(async () => {
  box = await sandbox('quarantine');
});
afterEach(async () => {
  await engine?.stop().catch(() => undefined);
  engine = undefined;
  await box.cleanup();
});

/** Sets a qcow2 header's version field (4 bytes at offset 4): 99 is one QEMU refuses. */
async function setVersion(path: string, version: number): Promise<void> {
  const handle = await open(path, 'r+');
  await handle.write(Buffer.from([0, 0, 0, version]), 0, 4, 4);
  await handle.close();
}

/** A template t (frozen) and a linked clone c on it; the template's layer broken and quarantined. */
async function quarantinedTemplate() {
  const started = await QemuDiskEngine.start(box.config());
  engine = started.engine;
  const e = engine;
  await e.createDisk({
    operationId: opId(),
    datastoreId: 'ds1',
    diskId: 't',
    format: 'thin',
    capacityBytes: MIB,
  });
  await e.write({ diskId: 't', offsetBytes: 0, data: pattern(7, 4096) });
  await e.freeze({ operationId: opId(), diskId: 't' });
  await e.linkedClone({ operationId: opId(), source: { diskId: 't' }, diskId: 'c' });
  const graph = e.inventory();
  const base = graph.disks.find((d) => d.diskId === 't')!.topLayerId;
  const top = graph.disks.find((d) => d.diskId === 'c')!.topLayerId;
  const file = (layerId: string) =>
    join(box.datastorePath, graph.layers.find((l) => l.layerId === layerId)!.fileName);
  await setVersion(file(base), 99);
  const report = await e.check({ operationId: opId('check'), repair: true });
  expect(
    report.findings
      .filter((f) => f.action === 'quarantined')
      .map((f) => f.subject)
      .sort(),
  ).toEqual([base, top].sort());
  return { e, base, top, file };
}

it('lists what check moved aside, and restores a layer only once it is sound, bottom up', async () => {
  const { e, base, top, file } = await quarantinedTemplate();
  // A stray image check moved aside: listed, never restorable.
  await copyFile(file(top), join(box.datastorePath, 'stray.qcow2'));
  await e.check({ operationId: opId('check'), repair: true });

  const listed = await e.quarantined('ds1');
  expect(listed).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        kind: 'layer',
        entry: base,
        diskIds: ['c', 't'],
        restorable: true,
      }),
      expect.objectContaining({ kind: 'layer', entry: top, diskIds: ['c'], restorable: true }),
      expect.objectContaining({
        kind: 'file',
        entry: expect.stringMatching(/stray\.qcow2$/),
        restorable: false,
      }),
    ]),
  );

  // Still broken: checked again, refused, still quarantined.
  await expect(
    e.restoreQuarantined({ operationId: opId(), datastoreId: 'ds1', layerId: base }),
  ).rejects.toMatchObject({ code: 'DISK.STILL_BROKEN' });
  // What stands on a quarantined layer waits for it.
  await expect(
    e.restoreQuarantined({ operationId: opId(), datastoreId: 'ds1', layerId: top }),
  ).rejects.toMatchObject({ code: 'DISK.QUARANTINED' });

  // Repaired by the operator: restored, with progress, then what stands on it.
  await setVersion(file(base), 3);
  const phases: number[] = [];
  await e.restoreQuarantined(
    { operationId: opId(), datastoreId: 'ds1', layerId: base },
    { onProgress: (p) => phases.push(p.doneBytes) },
  );
  expect(phases).toEqual([0, 1, 2]);
  await e.restoreQuarantined({ operationId: opId(), datastoreId: 'ds1', layerId: top });
  expect(e.inventory().layers.filter((l) => l.quarantined)).toEqual([]);
  await expect(
    e.read({ target: { diskId: 'c' }, offsetBytes: 0, lengthBytes: 4096 }),
  ).resolves.toEqual(pattern(7, 4096));

  // The log says so: an engine started again sees them restored.
  await e.stop();
  engine = (await QemuDiskEngine.start(box.config())).engine;
  expect(engine.inventory().layers.filter((l) => l.quarantined)).toEqual([]);
});

it('refuses names that are no quarantined layer, and a symlink in a layer’s place', async () => {
  const { e, base, file } = await quarantinedTemplate();
  const stray = (await e.quarantined('ds1')).find((q) => q.kind === 'file');
  for (const layerId of ['..', '../ds1', 'a/b', '/etc/passwd', '.dolly', `${base}/..`])
    await expect(
      e.restoreQuarantined({ operationId: opId(), datastoreId: 'ds1', layerId }),
    ).rejects.toMatchObject({ code: 'DISK.BAD_NAME' });
  for (const datastoreId of ['..', 'ds1/../ds1'])
    await expect(
      e.restoreQuarantined({ operationId: opId(), datastoreId, layerId: base }),
    ).rejects.toMatchObject({ code: 'DISK.BAD_NAME' });
  if (stray)
    await expect(
      e.restoreQuarantined({ operationId: opId(), datastoreId: 'ds1', layerId: stray.entry }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/DISK\.(BAD_NAME|NOT_QUARANTINED)/) });
  await expect(
    e.restoreQuarantined({ operationId: opId(), datastoreId: 'ds1', layerId: 'no-such-layer' }),
  ).rejects.toMatchObject({ code: 'DISK.NOT_QUARANTINED' });

  // A sound image elsewhere, linked in the layer's place: not taken.
  const elsewhere = join(box.dir, 'sound.qcow2');
  await copyFile(file(base), elsewhere);
  await setVersion(elsewhere, 3);
  await rename(file(base), join(box.dir, 'broken.qcow2'));
  await symlink(elsewhere, file(base));
  await expect(
    e.restoreQuarantined({ operationId: opId(), datastoreId: 'ds1', layerId: base }),
  ).rejects.toMatchObject({
    code: 'DISK.STILL_BROKEN',
    details: expect.objectContaining({ problem: 'not-a-regular-file' }),
  });
  expect(e.inventory().layers.find((l) => l.layerId === base)!.quarantined).toBe(true);
});
