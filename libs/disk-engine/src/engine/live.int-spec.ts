/**
 * Disks in use: NBD exports from the worker's qemu-storage-daemon, read and written by QEMU's
 * own tools and by an NBD client that knows exactly which writes were acknowledged.
 */
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeTestCertificates } from '@dolly/testing';
import { type LiveExport } from '../daemon/live-graph';
import { NbdClient } from '../nbd/nbd-client';
import { run } from '../qemu/process';
import * as qemuImg from '../qemu/qemu-img';
import { MIB, type Sandbox, opId, pattern, sandbox, startEngine } from '../testing/fixtures';
import { type QemuDiskEngine } from './qemu-disk-engine';

jest.setTimeout(120_000);

let box: Sandbox;
let engine: QemuDiskEngine;
const clients: NbdClient[] = [];
beforeEach(async () => {
  box = await sandbox('live');
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined);
  await engine?.stop().catch(() => undefined);
  await box.cleanup();
});

async function connect(live: LiveExport): Promise<NbdClient> {
  const endpoint = live.endpoint;
  const client = await NbdClient.connect(
    endpoint.kind === 'unix' ? { socketPath: endpoint.socketPath } : endpoint,
    live.exportName,
  );
  clients.push(client);
  return client;
}

async function liveDisk(
  diskId: string,
  capacityBytes = 16 * MIB,
  kind: 'disk' | 'memory' = 'disk',
) {
  await engine.createDisk({
    operationId: opId(),
    datastoreId: 'ds1',
    diskId,
    kind,
    format: 'thin',
    capacityBytes,
  });
  return engine.openLive({ operationId: opId(), target: { diskId } });
}

const topOf = (diskId: string) =>
  engine.inventory().disks.find((d) => d.diskId === diskId)!.topLayerId;

describe('NBD exports', () => {
  it('serve a Unix socket only the owner may use, and QEMU tools and libnbd work on them unchanged', async () => {
    engine = await startEngine(box);
    const live = await liveDisk('vm');
    if (live.endpoint.kind !== 'unix') throw new Error('expected a Unix socket');
    expect((await stat(live.endpoint.socketPath)).mode & 0o777).toBe(0o600);

    await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x42 0 64k', '-c', 'flush', live.uri]);
    const info = JSON.parse(
      (await run('qemu-img', ['info', '--output=json', '-f', 'raw', live.uri])).stdout,
    ) as { 'virtual-size': number };
    expect(info['virtual-size']).toBe(16 * MIB);
    const size = JSON.parse(
      (await run('nbdinfo', ['--size', '--json', live.uri])).stdout,
    ) as number;
    expect(size).toBe(16 * MIB);
    const copy = join(box.dir, 'copy.raw');
    await run('nbdcopy', [live.uri, copy]);
    const bytes = await readFile(copy);
    expect(bytes.subarray(0, 65536).equals(pattern(0x42, 65536))).toBe(true);
    expect(bytes.subarray(65536).every((b) => b === 0)).toBe(true);
  });

  it('report allocation and qemu:allocation-depth in block status', async () => {
    engine = await startEngine(box);
    const base = await liveDisk('vm');
    await (await connect(base)).write(0, pattern(1, 65536));
    await engine.closeLive({ operationId: opId(), target: { diskId: 'vm' } });
    const { frozenLayerId } = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    const live = await engine.openLive({ operationId: opId(), target: { diskId: 'vm' } });
    await (await connect(live)).write(65536, pattern(2, 65536));
    const depth = JSON.parse(
      (await run('nbdinfo', ['--map=qemu:allocation-depth', '--json', live.uri])).stdout,
    ) as Array<{ offset: number; length: number; type: number }>;
    expect(depth.slice(0, 2)).toEqual([
      expect.objectContaining({ offset: 0, length: 65536, type: 2 }),
      expect.objectContaining({ offset: 65536, length: 65536, type: 1 }),
    ]);
    // The engine's block map of a live disk comes from the same block status.
    const map = await engine.blockMap({ target: { diskId: 'vm' } });
    expect(map.extents.map((e) => [e.offsetBytes, e.layerId])).toEqual([
      [0, frozenLayerId],
      [65536, topOf('vm')],
    ]);
  });

  it('export frozen layers read-only', async () => {
    engine = await startEngine(box);
    const live = await liveDisk('vm');
    await (await connect(live)).write(0, pattern(9, 4096));
    await engine.closeLive({ operationId: opId(), target: { diskId: 'vm' } });
    const { frozenLayerId } = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    const frozen = await engine.openLive({
      operationId: opId(),
      target: { layerId: frozenLayerId },
    });
    expect(frozen.writable).toBe(false);
    const client = await connect(frozen);
    expect(client.readOnly).toBe(true);
    expect((await client.read(0, 4))[0]).toBe(9);
    // QEMU 7.2 answers EINVAL (a write the export's flags forbid), newer ones EPERM.
    const refused = await client
      .write(0, pattern(1, 4096))
      .catch((e: { errno?: string }) => e.errno);
    expect(['EPERM', 'EINVAL']).toContain(refused);
    expect((await client.read(0, 4))[0]).toBe(9);
    await expect(
      run('qemu-io', ['-f', 'raw', '-c', 'write 0 4k', frozen.uri]),
    ).rejects.toMatchObject({ code: 'DISK.QEMU_FAILED' });
  });

  it('listen on 127.0.0.1 when asked to', async () => {
    const port = await freePort();
    engine = await startEngine(box, { nbd: { kind: 'tcp', port } });
    const live = await liveDisk('vm');
    expect(live.uri).toBe(`nbd://127.0.0.1:${port}/vm`);
    await run('qemu-io', ['-f', 'raw', '-c', 'write -P 7 0 4k', live.uri]);
    expect(
      (await engine.read({ target: { diskId: 'vm' }, offsetBytes: 0, lengthBytes: 1 }))[0],
    ).toBe(7);
  });
});

describe('TLS', () => {
  it('exports over TLS when configured, and refuses clients that do not speak it', async () => {
    const { serverDir, clientDir } = await makeTestCertificates(join(box.dir, 'tls'));
    const port = await freePort();
    engine = await startEngine(box, { nbd: { kind: 'tcp', port }, tls: { certDir: serverDir } });
    const live = await liveDisk('vm');
    expect(live.uri).toBe(`nbds://127.0.0.1:${port}/vm`);
    await run('nbdcopy', ['--', `${live.uri}?tls-certificates=${clientDir}`, 'null:']);
    const size = JSON.parse(
      (await run('nbdinfo', ['--size', '--json', `${live.uri}?tls-certificates=${clientDir}`]))
        .stdout,
    ) as number;
    expect(size).toBe(16 * MIB);
    await expect(run('nbdinfo', ['--size', `nbd://127.0.0.1:${port}/vm`])).rejects.toMatchObject({
      code: 'DISK.QEMU_FAILED',
    });
  });
});

describe('live snapshot and point-in-time copy', () => {
  it('a live snapshot freezes what was written and the writer goes on in the new delta', async () => {
    engine = await startEngine(box);
    const client = await connect(await liveDisk('vm'));
    await client.write(0, pattern(1, 65536));
    const snap = await engine.snapshot({ operationId: opId(), diskId: 'vm' });
    expect(snap.live).toBe(true);
    await client.write(0, pattern(2, 65536));
    await client.write(65536, pattern(3, 65536));
    await client.flush();
    expect((await client.read(0, 1))[0]).toBe(2);
    const frozen = await engine.read({
      target: { layerId: snap.frozenLayerId },
      offsetBytes: 0,
      lengthBytes: 65536 * 2,
    });
    expect([frozen[0], frozen[65536]]).toEqual([1, 0]);
    const chain = await qemuImg.backingChain(join(box.datastorePath, `${snap.topLayerId}.qcow2`), {
      forceShare: true,
    });
    expect(chain.map((i) => i.backingFileName)).toEqual([`${snap.frozenLayerId}.qcow2`, null]);
  });

  it('a copy taken under a stamping writer holds one instant: every write acknowledged before it, none after it', async () => {
    engine = await startEngine(box);
    const blockBytes = 65536;
    const blocks = 512;
    const live = await liveDisk('src', blocks * blockBytes);
    const layersBefore = engine.inventory().layers.map((l) => l.layerId);
    const client = await connect(live);
    const stamp = (seq: number) => {
      const block = Buffer.alloc(blockBytes);
      for (let i = 0; i < blockBytes; i += 4) block.writeUInt32LE(seq, i);
      return block;
    };
    let issued = 0;
    let acknowledged = 0;
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        const seq = ++issued;
        await client.write((seq % blocks) * blockBytes, stamp(seq));
        acknowledged = seq;
      }
    })();
    while (acknowledged < 2 * blocks) await new Promise((r) => setImmediate(r));
    const ackedBeforeCopy = acknowledged;
    const copy = await engine.fullClone({
      operationId: opId(),
      source: { diskId: 'src' },
      diskId: 'copy',
      datastoreId: 'ds1',
      format: 'thin',
    });
    const issuedBeforeEnd = issued;
    while (acknowledged < issuedBeforeEnd + blocks) await new Promise((r) => setImmediate(r));
    stop = true;
    await writer;

    const image = await engine.read({
      target: { diskId: 'copy' },
      offsetBytes: 0,
      lengthBytes: blocks * blockBytes,
    });
    const seen = Array.from({ length: blocks }, (_, b) => image.readUInt32LE(b * blockBytes));
    for (let b = 0; b < blocks; b++) {
      const block = image.subarray(b * blockBytes, (b + 1) * blockBytes);
      expect(block.equals(stamp(seen[b]))).toBe(true); // no torn block
    }
    const instant = Math.max(...seen);
    expect(instant).toBeGreaterThanOrEqual(ackedBeforeCopy);
    expect(instant).toBeLessThanOrEqual(issuedBeforeEnd);
    // One instant: each block holds the last write to it at or before `instant`, no later one.
    const expected = seen.map((_, b) => instant - ((instant - b + blocks) % blocks));
    expect(seen).toEqual(expected);
    // The writer went on, and the source keeps the chain it had: no stray delta.
    expect(acknowledged).toBeGreaterThan(issuedBeforeEnd);
    expect(
      engine
        .inventory()
        .layers.map((l) => l.layerId)
        .filter((id) => id !== copy.layerId),
    ).toEqual(layersBefore);
    const sourceChain = await qemuImg.backingChain(
      join(box.datastorePath, `${topOf('src')}.qcow2`),
      { forceShare: true },
    );
    expect(sourceChain).toHaveLength(1);
    expect(
      (await qemuImg.info(join(box.datastorePath, `${copy.layerId}.qcow2`), 'qcow2'))
        .backingFileName,
    ).toBeNull();
  });
});

describe('memory images and forks', () => {
  it('forks share the frozen parent copy-on-write, stay apart, and outlive the parent', async () => {
    engine = await startEngine(box);
    const mem = await connect(await liveDisk('parent-mem', 32 * MIB, 'memory'));
    await liveDisk('parent-disk');
    await mem.write(0, pattern(0xaa, 65536));
    await mem.write(8 * MIB, pattern(0xab, 65536));
    await mem.flush();
    const forks = [];
    for (const n of [1, 2]) {
      forks.push(
        await engine.fork({
          operationId: opId(),
          sources: [
            { diskId: 'parent-disk', newDiskId: `ic${n}-disk` },
            { diskId: 'parent-mem', newDiskId: `ic${n}-mem` },
          ],
        }),
      );
    }
    // The first fork froze the parent; the second only added overlays.
    expect(forks[0].events.filter((e) => e.type === 'LayerFrozen')).toHaveLength(2);
    expect(forks[1].events.filter((e) => e.type === 'LayerFrozen')).toHaveLength(0);
    const ic1 = await connect(forks[0].forks[1].export);
    const ic2 = await connect(forks[1].forks[1].export);
    await ic1.write(0, pattern(0x11, 65536));
    expect([
      (await ic1.read(0, 1))[0],
      (await ic2.read(0, 1))[0],
      (await ic2.read(8 * MIB, 1))[0],
    ]).toEqual([0x11, 0xaa, 0xab]);
    const parentMem = engine.inventory().disks.find((d) => d.diskId === 'parent-mem')!.topLayerId;
    expect(
      (await engine.read({ target: { layerId: parentMem }, offsetBytes: 0, lengthBytes: 1 }))[0],
    ).toBe(0xaa);

    // The parent goes; its frozen memory stays while forks read it.
    await engine.deleteDisk({ operationId: opId(), diskId: 'parent-mem' });
    await engine.deleteDisk({ operationId: opId(), diskId: 'parent-disk' });
    expect((await ic2.read(8 * MIB, 1))[0]).toBe(0xab);
    // Each running fork takes in what it still reads from it (a live block-stream), then it goes.
    await engine.materialise({
      operationId: opId(),
      target: { diskId: 'ic1-mem' },
      releaseLayerId: parentMem,
    });
    const last = await engine.materialise({
      operationId: opId(),
      target: { diskId: 'ic2-mem' },
      releaseLayerId: parentMem,
    });
    expect(last.events.map((e) => e.type)).toEqual(['LayerRebased', 'LayerReclaimed']);
    expect([
      (await ic1.read(0, 1))[0],
      (await ic1.read(8 * MIB, 1))[0],
      (await ic2.read(0, 1))[0],
    ]).toEqual([0x11, 0xab, 0xaa]);
    await expect(stat(join(box.datastorePath, `${parentMem}.qcow2`))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});

describe('forks side by side', () => {
  it('of a parent already frozen run at the same time, each with its own overlay', async () => {
    engine = await startEngine(box);
    const parent = await connect(await liveDisk('parent'));
    await parent.write(0, pattern(0x77, 4096));
    await parent.flush();
    await engine.fork({ operationId: opId(), sources: [{ diskId: 'parent', newDiskId: 'first' }] });
    const forks = await Promise.all(
      [1, 2, 3].map((i) =>
        engine.fork({ operationId: opId(), sources: [{ diskId: 'parent', newDiskId: `ic${i}` }] }),
      ),
    );
    const layers = new Set(forks.map((f) => f.forks[0].layerId));
    expect(layers.size).toBe(3);
    for (const fork of forks)
      expect((await (await connect(fork.forks[0].export)).read(0, 1))[0]).toBe(0x77);
  });
});

describe('shared read-only layers', () => {
  it('are opened as shards of a bounded number of parents, each read the same, all closed after', async () => {
    engine = await startEngine(box, { daemonTuning: { maxParentsPerNode: 2 } });
    const parent = await connect(await liveDisk('parent'));
    await parent.write(0, pattern(0x5a, 65536));
    await parent.flush();
    const forks = [];
    for (let i = 0; i < 5; i++) {
      const fork = await engine.fork({
        operationId: opId(),
        sources: [{ diskId: 'parent', newDiskId: `ic${i}` }],
      });
      forks.push(await connect(fork.forks[0].export));
    }
    // 5 writable overlays, and the parent's layer opened as ceil(5 / 2) = 3 read-only shards.
    expect(engine.liveNodeCount()).toBe(5 + 3);
    for (const [i, fork] of forks.entries()) await fork.write(65536, pattern(i + 1, 65536));
    for (const [i, fork] of forks.entries()) {
      expect([(await fork.read(0, 1))[0], (await fork.read(65536, 1))[0]]).toEqual([0x5a, i + 1]);
    }
    for (const fork of forks.splice(0)) await fork.close();
    for (let i = 0; i < 5; i++) await engine.deleteDisk({ operationId: opId(), diskId: `ic${i}` });
    expect(engine.liveNodeCount()).toBe(0);
  });
});

describe('the daemon', () => {
  it('is restarted when it dies, with the same exports, and flushed writes are there', async () => {
    engine = await startEngine(box);
    const live = await liveDisk('vm');
    const client = await connect(live);
    await client.write(0, pattern(5, 65536));
    await client.flush();
    const restarted = new Promise<LiveExport[]>((resolve) => engine.onDaemonRestart(resolve));
    const pid = engine.daemonPid!;
    process.kill(pid, 'SIGKILL');
    const reopened = await restarted;
    expect(engine.daemonPid).not.toBe(pid);
    expect(reopened.map((e) => e.uri)).toEqual([live.uri]);
    const again = await connect(live);
    expect((await again.read(0, 1))[0]).toBe(5);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
