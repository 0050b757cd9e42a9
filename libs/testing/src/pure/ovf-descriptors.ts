/**
 * OVF 1.x descriptors for the specs, in the shape vSphere's ovftool writes for one VM (vmw:
 * namespace, rasd elements in the schema's order): written here from the format, not by Dolly's
 * own writer, so a spec of the reader or of an import never checks Dolly against itself. Only the
 * plain shape lives here; a vendor's extensions or a hostile variant stay in the spec that tests it.
 */

export const STREAM_OPTIMIZED_FORMAT =
  'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';

const MIB = 1024 * 1024;

export interface OvfFixtureDisk {
  /** The file's name in the package (`ovf:href`). */
  href: string;
  /** `ovf:size`; null leaves the attribute out, as a descriptor may. */
  fileSizeBytes: number | null;
  capacityBytes: number;
  compression?: 'gzip';
  chunkSizeBytes?: number;
  populatedSizeBytes?: number;
}

export interface OvfFixtureNic {
  network: string;
  /** `rasd:ResourceSubType`, as ovftool spells it (`VmxNet3`, `E1000`). */
  adapterType: string;
  macAddress?: string;
}

export interface OvfFixtureOptions {
  /** The VirtualSystem's id and name. */
  name?: string;
  hardwareVersion?: string;
  /** The CIM operating system id and the vmw:osType beside it. */
  operatingSystem?: { cimId: number; vmwOsType: string };
  cpus?: number;
  memoryMiB?: number;
  scsiControllerType?: string;
  disks: OvfFixtureDisk[];
  /** Default: one VmxNet3 on "VM Network". */
  nics?: OvfFixtureNic[];
  /** Raw `<Item>` elements after the ones above. */
  extraItems?: string;
  /** Raw text between the XML declaration and the Envelope (a DOCTYPE). */
  doctype?: string;
  /** `vmw:buildId` on the Envelope, as ovftool stamps it. */
  buildId?: string;
}

const attribute = (name: string, value: string | number | null | undefined) =>
  value === null || value === undefined ? '' : ` ovf:${name}="${value}"`;

/** A capacity in MiB with its units where it is whole MiB (as ovftool writes it), else in bytes. */
const capacity = (bytes: number) =>
  bytes % MIB === 0
    ? ` ovf:capacity="${bytes / MIB}" ovf:capacityAllocationUnits="byte * 2^20"`
    : ` ovf:capacity="${bytes}"`;

export function ovfDescriptor(options: OvfFixtureOptions): string {
  const name = options.name ?? 'appliance';
  const cpus = options.cpus ?? 2;
  const memoryMiB = options.memoryMiB ?? 1024;
  const os = options.operatingSystem ?? { cimId: 101, vmwOsType: 'otherLinux64Guest' };
  const nics = options.nics ?? [{ network: 'VM Network', adapterType: 'VmxNet3' }];
  const networks = [...new Set(nics.map((nic) => nic.network))];
  const files = options.disks.map(
    (disk, index) =>
      `    <File ovf:href="${disk.href}" ovf:id="file${index + 1}"${attribute('size', disk.fileSizeBytes)}${attribute('compression', disk.compression)}${attribute('chunkSize', disk.chunkSizeBytes)}/>`,
  );
  const disks = options.disks.map(
    (disk, index) =>
      `    <Disk${capacity(disk.capacityBytes)} ovf:diskId="vmdisk${index + 1}" ovf:fileRef="file${index + 1}" ovf:format="${STREAM_OPTIMIZED_FORMAT}"${attribute('populatedSize', disk.populatedSizeBytes)}/>`,
  );
  const networkElements = networks.map(
    (network) => `    <Network ovf:name="${network}">
      <Description>The ${network} network</Description>
    </Network>`,
  );
  const diskItems = options.disks.map(
    (_disk, index) => `      <Item>
        <rasd:AddressOnParent>${index}</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk ${index + 1}</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk${index + 1}</rasd:HostResource>
        <rasd:InstanceID>${4 + index}</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>`,
  );
  const nicItems = nics.map(
    (
      nic,
      index,
    ) => `      <Item>${nic.macAddress ? `\n        <rasd:Address>${nic.macAddress}</rasd:Address>` : ''}
        <rasd:AddressOnParent>${7 + index}</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>${nic.network}</rasd:Connection>
        <rasd:Description>${nic.adapterType} ethernet adapter on &quot;${nic.network}&quot;</rasd:Description>
        <rasd:ElementName>Network adapter ${index + 1}</rasd:ElementName>
        <rasd:InstanceID>${4 + options.disks.length + index}</rasd:InstanceID>
        <rasd:ResourceSubType>${nic.adapterType}</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>`,
  );
  const buildId = options.buildId ? ` vmw:buildId="${options.buildId}"` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>
${options.doctype ?? ''}<Envelope${buildId} xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
${files.join('\n')}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
${disks.join('\n')}
  </DiskSection>${
    networks.length === 0
      ? ''
      : `
  <NetworkSection>
    <Info>The list of logical networks</Info>
${networkElements.join('\n')}
  </NetworkSection>`
  }
  <VirtualSystem ovf:id="${name}">
    <Info>A virtual machine</Info>
    <Name>${name}</Name>
    <OperatingSystemSection ovf:id="${os.cimId}" vmw:osType="${os.vmwOsType}">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>${options.hardwareVersion ?? 'vmx-13'}</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>${cpus} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>${cpus}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>${memoryMiB}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>${memoryMiB}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>${options.scsiControllerType ?? 'lsilogic'}</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
${[...diskItems, ...nicItems].join('\n')}${options.extraItems ?? ''}
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}
