/**
 * Test fixtures: a datastore folder of its own under os.tmpdir() for every test, removed after,
 * and an engine started on it with the real qemu-img and qemu-storage-daemon.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuDiskEngine, type QemuDiskEngineConfig } from '../engine/qemu-disk-engine';

export const KIB = 1024;
export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;

export interface Sandbox {
  dir: string;
  datastorePath: string;
  runtimeDir: string;
  config(overrides?: Partial<QemuDiskEngineConfig>): QemuDiskEngineConfig;
  cleanup(): Promise<void>;
}

export async function sandbox(name = 'disk'): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), `dolly-${name}-`));
  const datastorePath = join(dir, 'ds1');
  const runtimeDir = join(dir, 'rt');
  await mkdir(datastorePath);
  return {
    dir,
    datastorePath,
    runtimeDir,
    config: (overrides = {}) => ({
      datastores: [{ datastoreId: 'ds1', path: datastorePath }],
      runtimeDir,
      ...overrides,
    }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export async function startEngine(
  box: Sandbox,
  overrides: Partial<QemuDiskEngineConfig> = {},
): Promise<QemuDiskEngine> {
  const { engine } = await QemuDiskEngine.start(box.config(overrides));
  return engine;
}

/** A buffer filled with one byte value: easy to recognise in reads. */
export function pattern(byte: number, length: number): Buffer {
  return Buffer.alloc(length, byte);
}

/** A full clone of disk `src` into a new disk `copy`, every byte written (the longest copy). */
export function fullCopyOfSrc(operationId: string) {
  return {
    operationId,
    source: { diskId: 'src' },
    diskId: 'copy',
    datastoreId: 'ds1',
    format: 'thick-eager-zeroed' as const,
  };
}

let counter = 0;
export const opId = (label = 'op') => `${label}-${process.pid}-${++counter}`;
