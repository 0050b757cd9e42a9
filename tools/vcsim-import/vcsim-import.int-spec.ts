import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  buildVcsimImport,
  importIntoVcsim,
  ovfDescriptor,
  sha256sumManifest,
  ustarArchive,
  VcsimImportError,
} from '@dolly/testing';

const run = promisify(execFile);

/** What the descriptor declares, and so what vcsim must read back. */
const hardware = {
  hardwareVersion: 'vmx-13',
  numCPU: 2,
  memoryMB: 2048,
  guestId: 'otherLinux64Guest',
  controllerType: 'lsilogic',
  diskCapacityBytes: 64 * 2 ** 20,
  nicType: 'e1000',
  network: 'VM Network',
  macAddress: '00:50:56:aa:bb:cc',
};

describe('vcsim-import: an OVA built by outside tools, imported into the vSphere simulator', () => {
  let dir: string;
  let streamDisk: string;
  let sparseDisk: string;
  let caseNumber = 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dolly-vcsim-'));
    await run('qemu-img', ['create', '-f', 'qcow2', join(dir, 'source.qcow2'), '64M']);
    // Some data in the disk, so the streamOptimized VMDK has grains to carry.
    await run('qemu-io', ['-c', 'write -P 0x5a 1M 2M', join(dir, 'source.qcow2')]);
    streamDisk = join(dir, 'stream.vmdk');
    sparseDisk = join(dir, 'sparse.vmdk');
    const source = join(dir, 'source.qcow2');
    await run('qemu-img', [
      'convert',
      '-O',
      'vmdk',
      '-o',
      'subformat=streamOptimized',
      source,
      streamDisk,
    ]);
    await run('qemu-img', [
      'convert',
      '-O',
      'vmdk',
      '-o',
      'subformat=monolithicSparse',
      source,
      sparseDisk,
    ]);
    // The first build of the Go program (cached afterwards) takes the longest.
    await buildVcsimImport();
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A package in a folder of its own: descriptor, SHA256 manifest (ovftool's line shape), disk. */
  async function buildOva(options: {
    network?: string;
    disk?: string;
    extraItems?: string;
    descriptorText?: (text: string) => string;
    manifestText?: (text: string) => string;
    members?: string[];
  }): Promise<string> {
    const caseDir = join(dir, `case-${++caseNumber}`);
    await run('mkdir', [caseDir]);
    await run('cp', [options.disk ?? streamDisk, join(caseDir, 'disk.vmdk')]);
    const diskBytes = (await stat(join(caseDir, 'disk.vmdk'))).size;
    const network = options.network ?? hardware.network;
    const text = ovfDescriptor({
      buildId: 'build-1',
      operatingSystem: { cimId: 101, vmwOsType: hardware.guestId },
      hardwareVersion: hardware.hardwareVersion,
      cpus: hardware.numCPU,
      memoryMiB: hardware.memoryMB,
      scsiControllerType: hardware.controllerType,
      disks: [
        {
          href: 'disk.vmdk',
          fileSizeBytes: diskBytes,
          capacityBytes: hardware.diskCapacityBytes,
          populatedSizeBytes: 0,
        },
      ],
      nics: [{ network, adapterType: 'E1000', macAddress: hardware.macAddress }],
      extraItems: options.extraItems,
    });
    await writeFile(join(caseDir, 'desc.ovf'), (options.descriptorText ?? ((t) => t))(text));
    const manifest = await sha256sumManifest(caseDir, ['desc.ovf', 'disk.vmdk']);
    await writeFile(join(caseDir, 'desc.mf'), (options.manifestText ?? ((t) => t))(manifest));
    await ustarArchive(caseDir, 'x.ova', options.members ?? ['desc.ovf', 'desc.mf', 'disk.vmdk']);
    return join(caseDir, 'x.ova');
  }

  async function refusal(ova: string, options = {}): Promise<string> {
    const error = await importIntoVcsim(ova, 'refused', options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VcsimImportError);
    return (error as VcsimImportError).stderr;
  }

  it('imports with no warning and reads back the hardware the descriptor declares', async () => {
    const ova = await buildOva({});
    const vm = await importIntoVcsim(ova, 'appliance-1');

    expect(vm).toMatchObject({
      name: 'appliance-1',
      numCPU: hardware.numCPU,
      memoryMB: hardware.memoryMB,
      hardwareVersion: hardware.hardwareVersion,
      guestId: hardware.guestId,
    });
    expect(vm.controllers.map((c) => c.type)).toEqual([hardware.controllerType]);
    expect(vm.disks).toHaveLength(1);
    expect(vm.disks[0]).toMatchObject({
      capacityBytes: hardware.diskCapacityBytes,
      controllerType: hardware.controllerType,
      label: 'Hard disk 1',
    });
    expect(vm.nics).toHaveLength(1);
    expect(vm.nics[0]).toMatchObject({ type: hardware.nicType, network: hardware.network });
    // vcsim 0.24 drops rasd:Address and generates a MAC of its own: only its shape is vcsim's word.
    expect(vm.nics[0].macAddress).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    // The disk went through the NFC lease whole.
    const diskBytes = (await stat(streamDisk)).size;
    expect(vm.uploads).toEqual([{ path: 'disk.vmdk', bytes: diskBytes }]);
  });

  it('refuses a network vcsim lacks unless it is mapped (vcsim alone would attach it to VM Network)', async () => {
    const ova = await buildOva({ network: 'Dolly Net' });

    const stderr = await refusal(ova);
    expect(stderr).toContain('the descriptor names network "Dolly Net", which vcsim lacks');
    expect(stderr).toContain('-network-map "Dolly Net"=<network>');

    const mapped = await importIntoVcsim(ova, 'mapped', {
      networkMap: { 'Dolly Net': 'DC0_DVPG0' },
    });
    expect(mapped.nics.map((n) => n.network)).toEqual(['DC0_DVPG0']);
  });

  it('refuses a mapping to a network vcsim lacks, and one for a network the descriptor does not name', async () => {
    const ova = await buildOva({});
    const stderr = await refusal(ova, {
      networkMap: { 'VM Network': 'Nowhere', Elsewhere: 'VM Network' },
    });
    expect(stderr).toContain('vcsim has no network "Nowhere"');
    expect(stderr).toContain('-network-map maps "Elsewhere", which the descriptor does not name');
  });

  it('refuses a malformed descriptor with the XML error', async () => {
    const ova = await buildOva({ descriptorText: (t) => t.replace('</VirtualSystem>', '') });
    expect(await refusal(ova)).toMatch(
      /desc\.ovf is not a readable OVF envelope: XML syntax error/,
    );
  });

  it('passes on every error CreateImportSpec returns (an item type vcsim does not support)', async () => {
    const soundCard = `
      <Item>
        <rasd:ElementName>Sound card</rasd:ElementName>
        <rasd:InstanceID>6</rasd:InstanceID>
        <rasd:ResourceType>35</rasd:ResourceType>
      </Item>`;
    const ova = await buildOva({ extraItems: soundCard });
    expect(await refusal(ova)).toContain('CreateImportSpec error: unsupported resource type: 35');
  });

  it('says every reason at once: descriptor not first, digest wrong, member not in the manifest', async () => {
    const ova = await buildOva({
      members: ['disk.vmdk', 'desc.ovf', 'desc.mf'],
      // One hex digit of the disk's digest changed.
      manifestText: (t) =>
        t.replace(
          /(SHA256\(disk\.vmdk\)= )([0-9a-f])/,
          (_, prefix: string, digit: string) => prefix + (digit === '0' ? '1' : '0'),
        ),
    });
    const stderr = await refusal(ova);
    expect(stderr).toContain('descriptor "desc.ovf" is member 2');
    expect(stderr).toMatch(/SHA256 of "disk\.vmdk" is [0-9a-f]{64}, the manifest says/);

    const unlisted = await buildOva({
      manifestText: (t) =>
        t
          .split('\n')
          .filter((l) => !l.includes('disk.vmdk'))
          .join('\n'),
    });
    expect(await refusal(unlisted)).toContain('archive member "disk.vmdk" is not listed');
  });

  it('refuses a symbolic link member and a member outside the package, both at once', async () => {
    const ova = await buildOva({});
    const caseDir = join(ova, '..');
    await run('ln', ['-s', '/etc/passwd', join(caseDir, 'link.vmdk')]);
    // -P keeps the "../" that tar would otherwise strip.
    await run('tar', ['--format=ustar', '-rPf', 'x.ova', 'link.vmdk', '../case-1/desc.ovf'], {
      cwd: caseDir,
    });
    const stderr = await refusal(ova);
    expect(stderr).toContain('member "link.vmdk" is not a regular file');
    expect(stderr).toContain('member "../case-1/desc.ovf" has a directory part');
  });

  it('refuses a disk that is not a streamOptimized VMDK, as vSphere NFC does', async () => {
    const ova = await buildOva({ disk: sparseDisk });
    expect(await refusal(ova)).toContain('VMDK is not createType="streamOptimized"');
  });

  it('refuses a disk item that points at no declared disk, rather than letting vcsim crash', async () => {
    const ova = await buildOva({
      descriptorText: (t) => t.replace('ovf:/disk/vmdisk1', 'ovf:/disk/vmdisk9'),
    });
    expect(await refusal(ova)).toContain('points at disk "ovf:/disk/vmdisk9"');
  });
});
