/**
 * The package the OVA benchmark moves, built by outside tools as a vendor would (qemu-img,
 * sha256sum, GNU tar; the descriptor by Dolly's own writer), and the floor it is compared with:
 * the same import and export done by hand with the same tools, timed step by step. Apart from
 * bench/ova.ts so that it can be run and checked without a stack.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { copyFile, open, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeDescriptor } from '@dolly/ovf';
import { GiB, MiB } from '../test/support/inventory';
import { sameContent } from '../test/support/disks';
import { exec } from './bare-qemu';

const DESCRIPTOR = 'app.ovf';
const MANIFEST = 'app.mf';
const VMDK = 'disk.vmdk';

/** A command's output, as a promise. */
export const output = promisify(execFile);

export interface Package {
  capacityBytes: number;
  /** The guest's view the package was made from: every disk read back is compared with it. */
  raw: string;
  ova: string;
  ovaBytes: number;
  vmdkBytes: number;
  /** The descriptor and manifest as packed, for the floor's own archive at export. */
  descriptorFile: string;
  manifestFile: string;
  buildSeconds: number;
}

/**
 * The raw disk: every other MiB written, the rest a hole. Each written MiB is half random bytes
 * (incompressible, as binaries and compressed files are) and half repeated text (as logs and
 * configuration are), so the VMDK's deflate has real work and a real gain (about 2x).
 */
async function writeSourceDisk(file: string, capacityBytes: number): Promise<void> {
  const handle = await open(file, 'w');
  try {
    await handle.truncate(capacityBytes);
    const half = MiB / 2;
    for (let mib = 0; mib * 2 * MiB < capacityBytes; mib++) {
      const text = Buffer.alloc(
        half,
        `MiB ${String(mib).padStart(8, '0')} of the bench appliance: log lines compress well\n`,
      );
      await handle.write(Buffer.concat([randomBytes(half), text]), 0, MiB, mib * 2 * MiB);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function buildPackage(dir: string, capacityBytes: number): Promise<Package> {
  const started = performance.now();
  const pkg = mkdtempSync(join(dir, 'pkg-'));
  const raw = join(dir, `source-${capacityBytes / MiB}M.raw`);
  await writeSourceDisk(raw, capacityBytes);
  const vmdk = join(pkg, VMDK);
  await exec('qemu-img', [
    'convert',
    '-f',
    'raw',
    '-O',
    'vmdk',
    '-o',
    'subformat=streamOptimized',
    raw,
    vmdk,
  ]);
  const vmdkBytes = statSync(vmdk).size;
  await writeFile(
    join(pkg, DESCRIPTOR),
    writeDescriptor({
      name: 'bench-appliance',
      hardwareVersion: 'vmx-19',
      guestOs: 'ubuntu64Guest',
      vcpus: 2,
      memoryBytes: GiB,
      disks: [
        {
          diskId: 'vmdisk1',
          label: 'Hard disk 1',
          capacityBytes,
          fileName: VMDK,
          fileSizeBytes: vmdkBytes,
        },
      ],
      nics: [{ network: 'VM Network', macAddress: '00:50:56:00:be:01', adapterType: 'VmxNet3' }],
    }),
  );
  // The digests by sha256sum, in the OVF manifest's own form (`SHA256(name)= digest`, as ovftool
  // writes it): `sha256sum --tag` writes `SHA256 (name) = digest`, which the OVF spec does not.
  const { stdout } = await output('sha256sum', [DESCRIPTOR, VMDK], { cwd: pkg });
  const manifest = stdout
    .trim()
    .split('\n')
    .map((line) => /^([0-9a-f]{64}) [ *](.+)$/.exec(line)!)
    .map(([, digest, name]) => `SHA256(${name})= ${digest}\n`)
    .join('');
  await writeFile(join(pkg, MANIFEST), manifest);
  const ova = join(dir, `app-${capacityBytes / MiB}M.ova`);
  await exec('tar', ['--format=ustar', '-cf', ova, DESCRIPTOR, MANIFEST, VMDK], pkg);
  // The archive holds it now; the disk stays as the raw source only.
  await rm(vmdk);
  return {
    capacityBytes,
    raw,
    ova,
    ovaBytes: statSync(ova).size,
    vmdkBytes,
    descriptorFile: join(pkg, DESCRIPTOR),
    manifestFile: join(pkg, MANIFEST),
    buildSeconds: (performance.now() - started) / 1000,
  };
}

// ------------------------------------------------------------------ the floor

export interface FloorTiming {
  /** tar -x (import) or qemu-img convert to streamOptimized (export). */
  firstMs: number;
  /** qemu-img convert to qcow2 (import) or tar -c (export). */
  secondMs: number;
  /** sync of the result and its folder. */
  syncMs: number;
}
export const floorMs = (t: FloorTiming) => t.firstMs + t.secondMs + t.syncMs;

async function timedSteps(steps: (() => Promise<void>)[]): Promise<FloorTiming> {
  const ms: number[] = [];
  for (const step of steps) {
    const start = performance.now();
    await step();
    ms.push(performance.now() - start);
  }
  return { firstMs: ms[0], secondMs: ms[1], syncMs: ms[2] };
}

/** An import by hand: the archive extracted beside the datastore, its VMDK converted to qcow2. */
export async function floorImport(pkg: Package, root: string): Promise<FloorTiming> {
  const dir = mkdtempSync(join(root, 'floor-import-'));
  const out = join(dir, 'imported.qcow2');
  try {
    return await timedSteps([
      () => exec('tar', ['-xf', pkg.ova, '-C', dir]),
      () => exec('qemu-img', ['convert', '-f', 'vmdk', '-O', 'qcow2', join(dir, VMDK), out]),
      () => exec('sync', [out, dir]),
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** An export by hand: the disk converted to streamOptimized, packed with descriptor and manifest. */
export async function floorExport(pkg: Package, disk: string, root: string): Promise<FloorTiming> {
  const dir = mkdtempSync(join(root, 'floor-export-'));
  await copyFile(pkg.descriptorFile, join(dir, DESCRIPTOR));
  await copyFile(pkg.manifestFile, join(dir, MANIFEST));
  const out = join(dir, 'exported.ova');
  try {
    return await timedSteps([
      () =>
        exec('qemu-img', [
          'convert',
          // -U: the worker's storage daemon may hold the disk open, read-only for this.
          '-U',
          '-f',
          'qcow2',
          '-O',
          'vmdk',
          '-o',
          'subformat=streamOptimized',
          disk,
          join(dir, VMDK),
        ]),
      () => exec('tar', ['--format=ustar', '-cf', out, DESCRIPTOR, MANIFEST, VMDK], dir),
      () => exec('sync', [out, dir]),
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function checkExport(file: string, pkg: Package, root: string) {
  const dir = mkdtempSync(join(root, 'check-'));
  try {
    const { stdout } = await output('tar', ['-tf', file]);
    const members = stdout.trim().split('\n');
    await exec('tar', ['-xf', file, '-C', dir]);
    const manifest = members.find((m) => m.endsWith('.mf'));
    let manifestChecks = false;
    if (manifest)
      manifestChecks = await output('sha256sum', ['--check', '--quiet', manifest], {
        cwd: dir,
      }).then(
        () => true,
        () => false,
      );
    const vmdk = members.find((m) => m.endsWith('.vmdk'));
    const { stdout: info } = await output('qemu-img', [
      'info',
      '--output=json',
      join(dir, vmdk ?? ''),
    ]);
    return {
      members,
      descriptorFirst: members[0]?.endsWith('.ovf') ?? false,
      manifestChecks,
      vmdkSubformat:
        (JSON.parse(info) as { 'format-specific'?: { data?: { 'create-type'?: string } } })[
          'format-specific'
        ]?.data?.['create-type'] ?? null,
      vmdkEqualsSource: vmdk ? await sameContent(pkg.raw, join(dir, vmdk)) : false,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
