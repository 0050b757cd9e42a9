import fc from 'fast-check';
import type { DescribedVm, OvfEnvelope } from '../model';
import { parseDescriptor } from './parse-descriptor';
import { writeDescriptor } from './write-descriptor';

const GIB = 1024 ** 3;

const WEB: DescribedVm = {
  name: 'web & "front"',
  hardwareVersion: 'vmx-13',
  guestOs: 'ubuntu64Guest',
  vcpus: 4,
  memoryBytes: 8 * GIB,
  disks: [
    {
      diskId: 'vmdisk1',
      label: 'Hard disk 1',
      capacityBytes: 20 * GIB,
      fileName: 'web-disk1.vmdk',
      fileSizeBytes: 123_456_789,
    },
    {
      diskId: 'vmdisk2',
      label: 'Hard disk 2',
      capacityBytes: 1536 * 1024 ** 2,
      fileName: 'web-disk2.vmdk',
      fileSizeBytes: 68_096,
    },
  ],
  nics: [
    { network: 'VM Network', macAddress: '00:50:56:AA:BB:01' },
    { network: 'Backend <10G>', macAddress: '00-50-56-aa-bb-02', adapterType: 'VmxNet3' },
    { network: 'VM Network', macAddress: '00:50:56:aa:bb:03', adapterType: 'E1000' },
  ],
};

function envelopeOf(xml: string): OvfEnvelope {
  const result = parseDescriptor(xml);
  if (!result.ok) throw new Error(`refused: ${JSON.stringify(result.reasons, null, 2)}\n${xml}`);
  return result.envelope;
}

/** What must survive the round trip: everything the descriptor says about the VM. */
function expectDescribes(envelope: OvfEnvelope, vm: DescribedVm): void {
  expect(envelope.virtualSystems).toHaveLength(1);
  const [system] = envelope.virtualSystems;
  expect(system).toMatchObject({
    id: vm.name,
    name: vm.name,
    hardwareVersion: vm.hardwareVersion,
    guestOs: vm.guestOs,
    vcpus: vm.vcpus,
    memoryBytes: vm.memoryBytes,
    products: [],
  });
  expect(
    envelope.references.map((file) => [
      file.href,
      file.sizeBytes,
      file.compression,
      file.chunkSizeBytes,
    ]),
  ).toEqual(
    vm.disks.map((disk) => [disk.fileName, disk.fileSizeBytes, null, disk.fileChunkBytes ?? null]),
  );
  expect(
    envelope.disks.map((disk) => [
      disk.diskId,
      disk.capacityBytes,
      disk.format,
      envelope.references.find((file) => file.id === disk.fileRef)?.href,
    ]),
  ).toEqual(
    vm.disks.map((disk) => [
      disk.diskId,
      disk.capacityBytes,
      'vmdk-streamOptimized',
      disk.fileName,
    ]),
  );
  expect(system.disks.map((disk) => [disk.diskId, disk.label])).toEqual(
    vm.disks.map((disk) => [disk.diskId, disk.label]),
  );
  expect(
    system.controllers.every(
      (controller) => controller.kind === 'scsi' && controller.subtype === 'lsilogic',
    ),
  ).toBe(true);
  expect(system.nics.map((nic) => [nic.network, nic.macAddress, nic.adapterType])).toEqual(
    vm.nics.map((nic) => [
      nic.network,
      nic.macAddress.toLowerCase().replace(/-/g, ':'),
      nic.adapterType ?? 'E1000',
    ]),
  );
  expect(envelope.networks.map((network) => network.name)).toEqual([
    ...new Set(vm.nics.map((nic) => nic.network)),
  ]);
}

describe('writeDescriptor', () => {
  const xml = writeDescriptor(WEB);

  it('round-trips through parseDescriptor: hardware, disks, NICs and file references', () => {
    expectDescribes(envelopeOf(xml), WEB);
  });

  it('writes the envelope in the order and namespaces ovftool uses', () => {
    const sections = [...xml.matchAll(/^ {2}<(\w+)/gm)].map((match) => match[1]);
    expect(sections).toEqual(['References', 'DiskSection', 'NetworkSection', 'VirtualSystem']);
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n/);
    expect(xml).toContain('xmlns="http://schemas.dmtf.org/ovf/envelope/1"');
    expect(xml).toContain('xmlns:vmw="http://www.vmware.com/schema/ovf"');
    expect(xml).toContain(
      '<Disk ovf:capacity="20" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>',
    );
    expect(xml).toContain('ovf:capacity="1536" ovf:capacityAllocationUnits="byte * 2^20"');
    expect(xml).toContain('<OperatingSystemSection ovf:id="94" vmw:osType="ubuntu64Guest">');
    expect(xml).toContain('<vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>');
    expect(xml).toContain('<rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>');
    expect(xml).toContain('<rasd:VirtualQuantity>8192</rasd:VirtualQuantity>');
    expect(xml).toContain('<rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>');
    expect(xml).toContain('<rasd:Address>00:50:56:aa:bb:01</rasd:Address>');
    expect(xml).toContain('<rasd:Connection>Backend &lt;10G&gt;</rasd:Connection>');
  });

  it('writes the rasd elements of every item in the schema order (alphabetical), each with a ResourceType', () => {
    const items = [...xml.matchAll(/<Item>([\s\S]*?)<\/Item>/g)].map((match) =>
      [...match[1].matchAll(/<rasd:(\w+)>/g)].map((name) => name[1]),
    );
    expect(items).toHaveLength(2 + 1 + WEB.disks.length + WEB.nics.length);
    for (const names of items) {
      expect(names).toEqual([...names].sort());
      expect(names).toContain('ResourceType');
      expect(names).toContain('InstanceID');
    }
  });

  it('spreads many disks over SCSI controllers, never on unit 7', () => {
    const disks = Array.from({ length: 20 }, (_, index) => ({
      diskId: `vmdisk${index + 1}`,
      label: `Hard disk ${index + 1}`,
      capacityBytes: GIB,
      fileName: `many-disk${index + 1}.vmdk`,
      fileSizeBytes: 1,
    }));
    const vm = { ...WEB, disks };
    const [system] = envelopeOf(writeDescriptor(vm)).virtualSystems;
    expect(system.controllers).toHaveLength(2);
    expect(system.disks.filter((disk) => disk.addressOnParent === 7)).toEqual([]);
    const slots = system.disks.map(
      (disk) => `${disk.controllerInstanceId}:${disk.addressOnParent}`,
    );
    expect(new Set(slots).size).toBe(20);
    expect(() =>
      writeDescriptor({ ...WEB, disks: Array.from({ length: 61 }, () => disks[0]) }),
    ).toThrow(RangeError);
  });

  it('says ovf:chunkSize of a chunked file, its ovf:size still the whole file', () => {
    const vm: DescribedVm = {
      ...WEB,
      disks: [{ ...WEB.disks[0], fileSizeBytes: 9 * GIB + 3, fileChunkBytes: 4 * GIB }],
    };
    const chunked = writeDescriptor(vm);
    expect(chunked).toContain(
      `<File ovf:chunkSize="${4 * GIB}" ovf:href="web-disk1.vmdk" ovf:id="file1" ovf:size="${9 * GIB + 3}"/>`,
    );
    expectDescribes(envelopeOf(chunked), vm);
    expect(() =>
      writeDescriptor({ ...vm, disks: [{ ...vm.disks[0], fileChunkBytes: 0 }] }),
    ).toThrow(/chunk size must be above 0/);
  });

  it('keeps memory that is not whole MiB exact, in bytes', () => {
    const vm = { ...WEB, memoryBytes: 3 * GIB + 512 };
    expect(envelopeOf(writeDescriptor(vm)).virtualSystems[0].memoryBytes).toBe(3 * GIB + 512);
  });

  it('refuses to write what XML cannot carry, or a MAC that is not one', () => {
    expect(() => writeDescriptor({ ...WEB, name: 'bell\u0007' })).toThrow(RangeError);
    expect(() => writeDescriptor({ ...WEB, nics: [{ network: 'n', macAddress: 'zz' }] })).toThrow(
      RangeError,
    );
  });

  it('round-trips any VM Dolly can describe', () => {
    // Names Dolly accepts: no control characters, which XML 1.0 cannot carry.
    const text = fc
      .string({ minLength: 1, maxLength: 20 })
      // eslint-disable-next-line no-control-regex
      .filter((value) => value.trim() === value && !/[\u0000-\u001f\ufffe\uffff]/.test(value));
    const vm: fc.Arbitrary<DescribedVm> = fc.record({
      name: text,
      hardwareVersion: fc.integer({ min: 4, max: 21 }).map((version) => `vmx-${version}`),
      guestOs: fc.constantFrom(
        'otherGuest',
        'otherLinux64Guest',
        'debian11_64Guest',
        'windows9_64Guest',
        'centos7_64Guest',
      ),
      vcpus: fc.integer({ min: 1, max: 128 }),
      memoryBytes: fc.integer({ min: 1, max: 1024 * 1024 }).map((mib) => mib * 1024 * 1024),
      disks: fc.uniqueArray(
        fc.record({
          diskId: fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/),
          label: text,
          capacityBytes: fc.integer({ min: 1, max: 2 ** 44 }),
          fileName: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,20}$/),
          fileSizeBytes: fc.integer({ min: 0, max: 2 ** 44 }),
          fileChunkBytes: fc.option(fc.integer({ min: 1, max: 2 ** 33 }), { nil: undefined }),
        }),
        { maxLength: 5, selector: (disk) => disk.diskId },
      ),
      nics: fc.array(
        fc.record({
          network: text,
          macAddress: fc
            .uint8Array({ minLength: 6, maxLength: 6 })
            .map((bytes) => [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(':')),
          adapterType: fc.constantFrom<'E1000' | 'VmxNet3'>('E1000', 'VmxNet3'),
        }),
        { maxLength: 4 },
      ),
    });
    fc.assert(
      fc.property(vm, (described) => {
        expectDescribes(envelopeOf(writeDescriptor(described)), described);
      }),
      { numRuns: 200 },
    );
  });
});
