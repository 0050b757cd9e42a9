import {
  type OvfEnvelope,
  type OvfVirtualSystem,
  parseDescriptor,
  writeDescriptor,
} from '@dolly/ovf';
import {
  type ImportIdentity,
  chooseVirtualSystem,
  choiceReasons,
  formatAsInPackage,
  planImport,
} from './import-definition';
import type { ImportTarget } from './import-vm.request';

const HOST = '0190a8f4-0000-7000-8000-000000000001';
const DATASTORE = '0190a8f4-0000-7000-8000-000000000002';
const GIB = 1024 ** 3;

function system(overrides: Partial<OvfVirtualSystem> = {}): OvfVirtualSystem {
  return {
    id: 'web',
    name: 'web',
    hardwareVersion: 'vmx-13',
    guestOs: 'ubuntu64Guest',
    vcpus: 2,
    memoryBytes: 2 * GIB,
    controllers: [{ instanceId: '3', kind: 'scsi', subtype: 'lsilogic' }],
    disks: [
      { diskId: 'vmdisk1', controllerInstanceId: '3', addressOnParent: 0, label: null },
      { diskId: 'vmdisk2', controllerInstanceId: '3', addressOnParent: 1, label: null },
    ],
    nics: [
      {
        network: 'VM Network',
        adapterType: 'VmxNet3',
        macAddress: '00:50:56:aa:bb:cc',
        label: null,
      },
      { network: 'Backend', adapterType: 'E1000', macAddress: null, label: null },
    ],
    products: [],
    ...overrides,
  };
}

function envelope(systems: OvfVirtualSystem[] = [system()]): OvfEnvelope {
  return {
    references: [
      { id: 'file1', href: 'web-1.vmdk', sizeBytes: 1000, compression: null, chunkSizeBytes: null },
      { id: 'file2', href: 'web-2.img', sizeBytes: 2000, compression: null, chunkSizeBytes: null },
    ],
    disks: [
      {
        diskId: 'vmdisk1',
        fileRef: 'file1',
        capacityBytes: 10 * GIB + 1,
        populatedSizeBytes: GIB,
        formatUri: 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized',
        format: 'vmdk-streamOptimized',
      },
      {
        diskId: 'vmdisk2',
        fileRef: 'file2',
        capacityBytes: 4 * GIB,
        populatedSizeBytes: null,
        formatUri: 'raw',
        format: 'raw',
      },
    ],
    networks: [
      { name: 'VM Network', description: null },
      { name: 'Backend', description: null },
    ],
    deploymentOptions: [{ id: 'small', label: 'Small', isDefault: true }],
    virtualSystems: systems,
  };
}

const target = (overrides: Partial<ImportTarget> = {}): ImportTarget => ({
  hostId: HOST,
  datastoreId: DATASTORE,
  name: 'web-01',
  ...overrides,
});

function identity(macs: string[] = ['02:00:00:00:00:01', '02:00:00:00:00:02']): ImportIdentity {
  let disk = 0;
  let mac = 0;
  return {
    vmId: 'vm-new',
    biosUuid: 'bios-new',
    newDiskId: () => `disk-${++disk}`,
    newMacAddress: () => macs[mac++ % macs.length],
  };
}

const plan = (overrides: Partial<Parameters<typeof planImport>[0]> = {}) =>
  planImport({
    envelope: envelope(),
    system: system(),
    target: target(),
    identity: identity(),
    hostMaxHardwareVersion: 'vmx-19',
    macAddressesInUse: new Set(),
    ...overrides,
  });

describe('planImport: the VM a VirtualSystem makes', () => {
  it('takes hardware, disks and NICs from the package, with new ids', () => {
    const { definition, ovfDiskIds, populatedBytes, reasons, virtualSystemId } = plan();
    expect(reasons).toEqual([]);
    expect(virtualSystemId).toBe('web');
    expect(definition).toEqual({
      vmId: 'vm-new',
      name: 'web-01',
      folder: '/',
      hostId: HOST,
      datastoreId: DATASTORE,
      hardware: {
        vcpus: 2,
        memoryBytes: 2 * GIB,
        hardwareVersion: 'vmx-13',
        guestOs: 'ubuntu64Guest',
      },
      disks: [
        // The capacity is rounded up to a whole sector.
        { diskId: 'disk-1', label: 'Hard disk 1', capacityBytes: 10 * GIB + 512, format: 'thin' },
        {
          diskId: 'disk-2',
          label: 'Hard disk 2',
          capacityBytes: 4 * GIB,
          format: 'thick-lazy-zeroed',
        },
      ],
      nics: [
        { network: 'VM Network', macAddress: '00:50:56:aa:bb:cc' },
        { network: 'Backend', macAddress: '02:00:00:00:00:01' },
      ],
      biosUuid: 'bios-new',
    });
    expect(ovfDiskIds).toEqual(['vmdisk1', 'vmdisk2']);
    // A disk whose populated size the package does not declare may fill its capacity.
    expect(populatedBytes).toEqual([GIB, 4 * GIB]);
  });

  it('rounds memory up to whole MiB, and to the 4 MiB a VM needs at least', () => {
    expect(
      plan({ system: system({ memoryBytes: 1024 ** 2 * 3 + 1 }) }).definition.hardware.memoryBytes,
    ).toBe(4 * 1024 ** 2);
    expect(
      plan({ system: system({ memoryBytes: 512 * 1024 ** 2 + 7 }) }).definition.hardware
        .memoryBytes,
    ).toBe(513 * 1024 ** 2);
  });

  it("uses the host's newest hardware version and otherGuest when the package names neither", () => {
    const { hardware } = plan({
      system: system({ hardwareVersion: null, guestOs: null }),
    }).definition;
    expect(hardware.hardwareVersion).toBe('vmx-19');
    expect(hardware.guestOs).toBe('otherGuest');
  });

  it('writes every disk in the format asked, whatever the package holds', () => {
    const { disks } = plan({ target: target({ diskFormat: 'thick-eager-zeroed' }) }).definition;
    expect(disks.map((d) => d.format)).toEqual(['thick-eager-zeroed', 'thick-eager-zeroed']);
    expect(formatAsInPackage('qcow2')).toBe('thin');
    expect(formatAsInPackage('vmdk-monolithicSparse')).toBe('thin');
    expect(formatAsInPackage('vmdk-monolithicFlat')).toBe('thick-lazy-zeroed');
  });

  it('maps networks to port groups; a network with no mapping keeps its name', () => {
    const { nics } = plan({
      target: target({ networkMapping: { 'VM Network': 'pg-web' } }),
    }).definition;
    expect(nics.map((n) => n.network)).toEqual(['pg-web', 'Backend']);
  });

  it('gives a new MAC where the package has one in use, a multicast one or the same one twice', () => {
    const twice = system({
      nics: [
        { network: 'A', adapterType: null, macAddress: '00:50:56:00:00:01', label: null },
        { network: 'A', adapterType: null, macAddress: '00:50:56:00:00:01', label: null },
        { network: 'A', adapterType: null, macAddress: '01:00:5e:00:00:01', label: null },
        { network: 'A', adapterType: null, macAddress: '00:50:56:00:00:02', label: null },
      ],
    });
    const { nics } = plan({
      system: twice,
      identity: identity(['02:00:00:00:00:0a', '02:00:00:00:00:0b', '02:00:00:00:00:0c']),
      macAddressesInUse: new Set(['00:50:56:00:00:02']),
    }).definition;
    expect(nics.map((n) => n.macAddress)).toEqual([
      '00:50:56:00:00:01',
      '02:00:00:00:00:0a',
      '02:00:00:00:00:0b',
      '02:00:00:00:00:0c',
    ]);
  });

  it('never repeats a new MAC another NIC took', () => {
    const { nics } = plan({
      identity: identity(['02:00:00:00:00:01', '02:00:00:00:00:02']),
      macAddressesInUse: new Set(['02:00:00:00:00:01']),
    }).definition;
    expect(nics[1].macAddress).toBe('02:00:00:00:00:02');
  });

  it('says every way the package exceeds what a VM can be, at once', () => {
    const huge = system({
      vcpus: 1000,
      memoryBytes: 30 * 1024 ** 4,
      hardwareVersion: 'vmx-99999',
      guestOs: 'g'.repeat(65),
      disks: Array.from({ length: 65 }, () => ({
        diskId: 'vmdisk1',
        controllerInstanceId: '3',
        addressOnParent: null,
        label: null,
      })),
      nics: Array.from({ length: 11 }, () => ({
        network: 'n'.repeat(81),
        adapterType: null,
        macAddress: null,
        label: null,
      })),
    });
    const big = envelope([huge]);
    big.disks[0].capacityBytes = 63 * 1024 ** 4;
    const { reasons } = plan({
      envelope: big,
      system: huge,
      identity: identity(
        Array.from({ length: 20 }, (_, i) => `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`),
      ),
    });
    expect(new Set(reasons.map((r) => r.code))).toEqual(
      new Set([
        'IMPORT.VCPUS_OUT_OF_RANGE',
        'IMPORT.MEMORY_OUT_OF_RANGE',
        'IMPORT.HARDWARE_VERSION_INVALID',
        'IMPORT.GUEST_OS_INVALID',
        'IMPORT.TOO_MANY_DISKS',
        'IMPORT.DISK_TOO_LARGE',
        'IMPORT.TOO_MANY_NICS',
        'IMPORT.NETWORK_NAME_INVALID',
      ]),
    );
  });

  it('names a disk item that points at no disk', () => {
    const orphan = system({
      disks: [{ diskId: 'nowhere', controllerInstanceId: '3', addressOnParent: 0, label: null }],
    });
    expect(plan({ system: orphan }).reasons.map((r) => r.code)).toEqual(['IMPORT.DISK_NOT_FOUND']);
  });
});

describe('the caller’s choices', () => {
  it('takes the only VirtualSystem, or the one named in a collection', () => {
    expect(chooseVirtualSystem(envelope(), undefined).system?.id).toBe('web');
    const two = envelope([system(), system({ id: 'db' })]);
    expect(chooseVirtualSystem(two, 'db').system?.id).toBe('db');
    expect(chooseVirtualSystem(two, undefined).reasons.map((r) => r.code)).toEqual([
      'IMPORT.VIRTUAL_SYSTEM_REQUIRED',
    ]);
    expect(chooseVirtualSystem(two, 'mail').reasons.map((r) => r.code)).toEqual([
      'IMPORT.UNKNOWN_VIRTUAL_SYSTEM',
    ]);
  });

  it('names every network and option the package does not have', () => {
    const reasons = choiceReasons(
      envelope(),
      target({
        networkMapping: { 'VM Network': 'pg', Nowhere: 'pg', 'a/b~c': 'pg' },
        deploymentOption: 'huge',
      }),
    );
    expect(reasons.map((r) => [r.code, r.pointer])).toEqual([
      ['IMPORT.UNKNOWN_NETWORK', '/networkMapping/Nowhere'],
      ['IMPORT.UNKNOWN_NETWORK', '/networkMapping/a~1b~0c'],
      ['IMPORT.UNKNOWN_DEPLOYMENT_OPTION', '/deploymentOption'],
    ]);
  });
});

describe('a descriptor Dolly wrote, imported back', () => {
  it('makes the VM it described: hardware, disks, networks and MACs', () => {
    const xml = writeDescriptor({
      name: 'web',
      hardwareVersion: 'vmx-15',
      guestOs: 'debian11_64Guest',
      vcpus: 4,
      memoryBytes: 3 * GIB,
      disks: [
        {
          diskId: 'd1',
          label: 'Hard disk 1',
          capacityBytes: 20 * GIB,
          fileName: 'web-disk1.vmdk',
          fileSizeBytes: 4096,
        },
        {
          diskId: 'd2',
          label: 'Hard disk 2',
          capacityBytes: GIB,
          fileName: 'web-disk2.vmdk',
          fileSizeBytes: 2048,
        },
      ],
      nics: [{ network: 'pg-web', macAddress: '00:50:56:01:02:03', adapterType: 'VmxNet3' }],
    });
    const parsed = parseDescriptor(xml);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.reasons));
    const chosen = chooseVirtualSystem(parsed.envelope, undefined);
    expect(chosen.reasons).toEqual([]);
    const { definition, reasons, ovfDiskIds } = plan({
      envelope: parsed.envelope,
      system: chosen.system!,
      hostMaxHardwareVersion: 'vmx-19',
    });
    expect(reasons).toEqual([]);
    expect(definition.hardware).toEqual({
      vcpus: 4,
      memoryBytes: 3 * GIB,
      hardwareVersion: 'vmx-15',
      guestOs: 'debian11_64Guest',
    });
    expect(definition.disks.map((d) => [d.label, d.capacityBytes, d.format])).toEqual([
      ['Hard disk 1', 20 * GIB, 'thin'],
      ['Hard disk 2', GIB, 'thin'],
    ]);
    expect(ovfDiskIds).toHaveLength(2);
    expect(definition.nics).toEqual([{ network: 'pg-web', macAddress: '00:50:56:01:02:03' }]);
  });
});
