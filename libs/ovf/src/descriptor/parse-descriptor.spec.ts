import type { OvfEnvelope, ParsedDescriptor, PackageReason } from '../model';
import { parseDescriptor } from './parse-descriptor';

/**
 * Descriptors in the shapes real products write, each written here from the published format:
 * the DMTF specification's examples (DSP0243 annex, DSP2021), vSphere's ovftool with its vmw:
 * extensions, VirtualBox's OVF 1.0 export, a VirtualSystemCollection and an OVF 2.0 envelope.
 */

const NS = [
  'xmlns="http://schemas.dmtf.org/ovf/envelope/1"',
  'xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"',
  'xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"',
  'xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"',
  'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
].join(' ');

/** DSP0243's annex example, cut to one system: a sparse VMDK, a blank disk, a property-sized disk, a chunked file. */
const DMTF_EXAMPLE = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope ${NS} xml:lang="en-US">
  <References>
    <File ovf:id="file1" ovf:href="vmdisk1.vmdk" ovf:size="180114671"/>
    <File ovf:id="file2" ovf:href="vmdisk2.vmdk" ovf:size="4882023564" ovf:chunkSize="2147483648"/>
    <File ovf:id="file3" ovf:href="resource.iso" ovf:size="212148764" ovf:compression="gzip"/>
  </References>
  <DiskSection>
    <Info>Describes the set of virtual disks</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="8589934592" ovf:populatedSize="3549324972"
      ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#sparse"/>
    <Disk ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:capacity="\${disk.size}" ovf:capacityAllocationUnits="byte * 2^30"
      ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#sparse"/>
    <Disk ovf:diskId="vmdisk3" ovf:capacity="536870912"
      ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#sparse"/>
  </DiskSection>
  <NetworkSection>
    <Info>List of logical networks used in the package</Info>
    <Network ovf:name="VM Network">
      <Description>The network that the LAMP Service will be available on</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="MyLampService">
    <Info>Single-VM Virtual appliance with LAMP stack</Info>
    <Name>LAMP Virtual Appliance</Name>
    <ProductSection ovf:class="org.linuxdistx" ovf:instance="1">
      <Info>Product customization for the installed Linux system</Info>
      <Product>Linux Distribution X</Product>
      <Version>2.6.3</Version>
      <Property ovf:key="hostname" ovf:type="string" ovf:userConfigurable="true">
        <Label>Hostname</Label>
      </Property>
      <Property ovf:key="disk.size" ovf:type="uint16" ovf:value="4"/>
      <Property ovf:key="loglevel" ovf:type="string" ovf:value="normal" ovf:userConfigurable="true"
        ovf:qualifiers='ValueMap{"low","normal","debug"}'/>
    </ProductSection>
    <AnnotationSection>
      <Info>A human-readable annotation</Info>
      <Annotation>Contact customer support if you have any problems</Annotation>
    </AnnotationSection>
    <EulaSection>
      <Info>License agreement for the Virtual System</Info>
      <License>License terms can go in here.</License>
    </EulaSection>
    <OperatingSystemSection ovf:id="58" ovf:required="false">
      <Info>Guest Operating System</Info>
      <Description>Windows 2000 Advanced Server</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Memory = 4 GB, CPU = 1 GHz, Disk = 100 GB, 1 Ethernet nic</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>MyLampService</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-04</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>1 virtual CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>256 MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>256</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:ElementName>Ethernet adapter on "VM Network"</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>LsiLogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:ElementName>IDE Controller 0</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceType>5</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:ElementName>Harddisk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>6</rasd:InstanceID>
        <rasd:Parent>4</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>1</rasd:AddressOnParent>
        <rasd:ElementName>Harddisk 2</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource>
        <rasd:InstanceID>7</rasd:InstanceID>
        <rasd:Parent>4</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>2</rasd:AddressOnParent>
        <rasd:ElementName>Harddisk 3</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk3</rasd:HostResource>
        <rasd:InstanceID>8</rasd:InstanceID>
        <rasd:Parent>4</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:ElementName>CD-ROM 1</rasd:ElementName>
        <rasd:HostResource>ovf:/file/file3</rasd:HostResource>
        <rasd:InstanceID>9</rasd:InstanceID>
        <rasd:Parent>5</rasd:Parent>
        <rasd:ResourceType>15</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>`;

/** vSphere ovftool 4.x, with vmw: extensions, a SATA controller, MACs, and two hardware versions. */
const VSPHERE_OVFTOOL = `<?xml version="1.0" encoding="UTF-8"?>
<!--Generated by VMware ovftool 4.4.1 (build-16812187), UTC time: 2021-02-01T10:00:00.000000Z-->
<Envelope vmw:buildId="build-16812187" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="photon-disk1.vmdk" ovf:id="file1" ovf:size="312345600"/>
    <File ovf:href="photon-disk2.vmdk" ovf:id="file2" ovf:size="68096"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="16" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" ovf:populatedSize="1234567168"/>
    <Disk ovf:capacity="512" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" ovf:populatedSize="0"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
    <Network ovf:name="Backend">
      <Description>The Backend network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="photon">
    <Info>A virtual machine</Info>
    <Name>photon</Name>
    <OperatingSystemSection ovf:id="36" ovf:version="3" vmw:osType="vmwarePhoton64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>photon</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-10 vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>2 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
        <vmw:CoresPerSocket ovf:required="false">2</vmw:CoresPerSocket>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>2048MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
        <vmw:Config ovf:required="false" vmw:key="slotInfo.pciSlotNumber" vmw:value="160"/>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SATA Controller</rasd:Description>
        <rasd:ElementName>SATA controller 0</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
      <Item ovf:required="false">
        <rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>
        <rasd:ElementName>VirtualVideoCard</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceType>24</rasd:ResourceType>
        <vmw:Config ovf:required="false" vmw:key="videoRamSizeInKB" vmw:value="4096"/>
      </Item>
      <Item ovf:required="false">
        <rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>
        <rasd:ElementName>VirtualVMCIDevice</rasd:ElementName>
        <rasd:InstanceID>6</rasd:InstanceID>
        <rasd:ResourceSubType>vmware.vmci</rasd:ResourceSubType>
        <rasd:ResourceType>1</rasd:ResourceType>
        <vmw:Config ovf:required="false" vmw:key="allowUnrestrictedCommunication" vmw:value="false"/>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>7</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
        <vmw:Config ovf:required="false" vmw:key="backing.writeThrough" vmw:value="false"/>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 2</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource>
        <rasd:InstanceID>8</rasd:InstanceID>
        <rasd:Parent>4</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>00:50:56:AB:cd:01</rasd:Address>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on &quot;VM Network&quot;</rasd:Description>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>9</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
        <vmw:Config ovf:required="false" vmw:key="wakeOnLanEnabled" vmw:value="true"/>
      </Item>
      <Item>
        <rasd:Address>00-50-56-ab-cd-02</rasd:Address>
        <rasd:AddressOnParent>8</rasd:AddressOnParent>
        <rasd:Connection>Backend</rasd:Connection>
        <rasd:ElementName>Network adapter 2</rasd:ElementName>
        <rasd:InstanceID>10</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="cpuHotAddEnabled" vmw:value="false"/>
      <vmw:Config ovf:required="false" vmw:key="tools.syncTimeWithHost" vmw:value="false"/>
      <vmw:ExtraConfig ovf:required="false" vmw:key="nvram" vmw:value="photon.nvram"/>
      <vmw:ExtraConfig ovf:required="false" vmw:key="svga.autodetect" vmw:value="TRUE"/>
    </VirtualHardwareSection>
    <vmw:BootOrderSection vmw:instanceId="7" vmw:type="disk">
      <Info>Virtual hardware device boot order</Info>
    </vmw:BootOrderSection>
    <vmw:IpAssignmentSection ovf:required="false" vmw:protocols="IPv4" vmw:schemes="">
      <Info>Supported IP assignment schemes</Info>
    </vmw:IpAssignmentSection>
    <ProductSection>
      <Info>Information about the installed software</Info>
      <Product>Photon OS</Product>
      <Property ovf:key="guestinfo.hostname" ovf:type="string" ovf:userConfigurable="true" ovf:qualifiers="MinLen(1),MaxLen(63)">
        <Label>Hostname</Label>
      </Property>
    </ProductSection>
  </VirtualSystem>
</Envelope>`;

/** VirtualBox 6.x `VBoxManage export --ovf10`: IDE (PIIX4) and SATA (AHCI, type 20), vbox:Machine, bytes and MegaBytes. */
const VIRTUALBOX_EXPORT = `<?xml version="1.0"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vbox="http://www.virtualbox.org/ovf/machine">
  <References>
    <File ovf:id="file1" ovf:href="debian-disk001.vmdk"/>
    <File ovf:id="file2" ovf:href="debian-disk002.vmdk"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="21474836480" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" vbox:uuid="5d1c6bf3-9c36-4a3e-9d0f-5d4f9a0e0c11"/>
    <Disk ovf:capacity="1073741824" ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" vbox:uuid="9a0bd1cb-8c8e-4b9b-a4a5-32b4d1f5f0a2"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks used in the package</Info>
    <Network ovf:name="NAT">
      <Description>Logical network used by this appliance.</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="debian">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="96">
      <Info>The kind of installed guest operating system</Info>
      <Description>Debian_64</Description>
      <vbox:OSType ovf:required="false">Debian_64</vbox:OSType>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>debian</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:Caption>1 virtual CPU</rasd:Caption>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>1 virtual CPU</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>1</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>
        <rasd:Caption>1024 MB of memory</rasd:Caption>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>1024 MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>1024</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Caption>ideController0</rasd:Caption>
        <rasd:Description>IDE Controller</rasd:Description>
        <rasd:ElementName>ideController0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>PIIX4</rasd:ResourceSubType>
        <rasd:ResourceType>5</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>1</rasd:Address>
        <rasd:Caption>ideController1</rasd:Caption>
        <rasd:Description>IDE Controller</rasd:Description>
        <rasd:ElementName>ideController1</rasd:ElementName>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:ResourceSubType>PIIX4</rasd:ResourceSubType>
        <rasd:ResourceType>5</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Caption>sataController0</rasd:Caption>
        <rasd:Description>SATA Controller</rasd:Description>
        <rasd:ElementName>sataController0</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>AHCI</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Caption>Ethernet adapter on 'NAT'</rasd:Caption>
        <rasd:Connection>NAT</rasd:Connection>
        <rasd:ElementName>Ethernet adapter on 'NAT'</rasd:ElementName>
        <rasd:InstanceID>6</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>3</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>
        <rasd:Caption>sound</rasd:Caption>
        <rasd:Description>Sound Card</rasd:Description>
        <rasd:ElementName>sound</rasd:ElementName>
        <rasd:InstanceID>7</rasd:InstanceID>
        <rasd:ResourceSubType>ensoniq1371</rasd:ResourceSubType>
        <rasd:ResourceType>35</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:Caption>disk1</rasd:Caption>
        <rasd:Description>Disk Image</rasd:Description>
        <rasd:ElementName>disk1</rasd:ElementName>
        <rasd:HostResource>/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>8</rasd:InstanceID>
        <rasd:Parent>5</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>1</rasd:AddressOnParent>
        <rasd:Caption>disk2</rasd:Caption>
        <rasd:Description>Disk Image</rasd:Description>
        <rasd:ElementName>disk2</rasd:ElementName>
        <rasd:HostResource>/disk/vmdisk2</rasd:HostResource>
        <rasd:InstanceID>9</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>
        <rasd:Caption>cdrom1</rasd:Caption>
        <rasd:Description>CD-ROM Drive</rasd:Description>
        <rasd:ElementName>cdrom1</rasd:ElementName>
        <rasd:InstanceID>10</rasd:InstanceID>
        <rasd:Parent>4</rasd:Parent>
        <rasd:ResourceType>15</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
    <vbox:Machine ovf:required="false" version="1.16-linux" uuid="{7a3f4c1e-2b61-4d7e-8a44-0f1e2d3c4b5a}" name="debian">
      <ovf:Info>Complete VirtualBox machine configuration in VirtualBox format</ovf:Info>
      <Hardware>
        <CPU count="1"/>
        <Memory RAMSize="1024"/>
        <Network>
          <Adapter slot="0" enabled="true" MACAddress="080027C0FFEE" type="82540EM">
            <NAT/>
          </Adapter>
        </Network>
      </Hardware>
    </vbox:Machine>
  </VirtualSystem>
</Envelope>`;

/** DSP0243's multi-tier example, cut down: a collection of two systems sharing one disk section. */
const COLLECTION = `<?xml version="1.0" encoding="UTF-8"?>
<Envelope ${NS}>
  <References>
    <File ovf:id="web" ovf:href="web.vmdk" ovf:size="1000"/>
    <File ovf:id="db" ovf:href="db.vmdk" ovf:size="2000"/>
  </References>
  <DiskSection>
    <Info>Disks</Info>
    <Disk ovf:diskId="webdisk" ovf:fileRef="web" ovf:capacity="4" ovf:capacityAllocationUnits="byte * 2^30" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
    <Disk ovf:diskId="dbdisk" ovf:fileRef="db" ovf:capacity="8" ovf:capacityAllocationUnits="byte * 2^30" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Networks</Info>
    <Network ovf:name="Front"><Description>Public</Description></Network>
  </NetworkSection>
  <VirtualSystemCollection ovf:id="MyService">
    <Info>A two-tier service</Info>
    <Name>Two-tier service</Name>
    <ProductSection ovf:class="com.example.service">
      <Info>Service-wide settings</Info>
      <Property ovf:key="admin.email" ovf:type="string" ovf:userConfigurable="true"/>
    </ProductSection>
    <StartupSection>
      <Info>Start order</Info>
      <Item ovf:id="db" ovf:order="1"/>
      <Item ovf:id="web" ovf:order="2"/>
    </StartupSection>
    ${['web', 'db']
      .map(
        (tier, index) => `<VirtualSystem ovf:id="${tier}">
      <Info>${tier} tier</Info>
      <VirtualHardwareSection>
        <Info>Hardware</Info>
        <System><vssd:InstanceID>0</vssd:InstanceID><vssd:VirtualSystemType>vmx-${11 + index}</vssd:VirtualSystemType></System>
        <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>${index + 1}</rasd:VirtualQuantity></Item>
        <Item><rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>${index + 1}</rasd:VirtualQuantity></Item>
        <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
        <Item><rasd:HostResource>ovf:/disk/${tier}disk</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
        <Item><rasd:Connection>Front</rasd:Connection><rasd:InstanceID>5</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>
      </VirtualHardwareSection>
    </VirtualSystem>`,
      )
      .join('\n    ')}
  </VirtualSystemCollection>
</Envelope>`;

/** DSP0243 2.x: the envelope/2 namespace, StorageItem (sasd) disks and EthernetPortItem (epasd) NICs. */
const OVF2_ENVELOPE = `<?xml version="1.0" encoding="UTF-8"?>
<o:Envelope xmlns:o="http://schemas.dmtf.org/ovf/envelope/2"
  xmlns:r="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
  xmlns:s="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData"
  xmlns:e="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_EthernetPortAllocationSettingData"
  xmlns:v="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData">
  <o:References>
    <o:File o:id="f1" o:href="disk.qcow2" o:size="65536"/>
  </o:References>
  <o:DiskSection>
    <o:Info>Disks</o:Info>
    <o:Disk o:diskId="d1" o:fileRef="f1" o:capacity="10737418240" o:format="http://www.gnome.org/~markmc/qcow-image-format.html"/>
  </o:DiskSection>
  <o:NetworkSection>
    <o:Info>Networks</o:Info>
    <o:Network o:name="lan"/>
  </o:NetworkSection>
  <o:VirtualSystem o:id="vm2">
    <o:Info>An OVF 2 system</o:Info>
    <o:Name>vm-two</o:Name>
    <o:VirtualHardwareSection>
      <o:Info>Hardware</o:Info>
      <o:System><v:InstanceID>0</v:InstanceID><v:VirtualSystemType>vmx-19</v:VirtualSystemType></o:System>
      <o:Item><r:InstanceID>1</r:InstanceID><r:ResourceType>3</r:ResourceType><r:VirtualQuantity>4</r:VirtualQuantity></o:Item>
      <o:Item><r:AllocationUnits>byte * 2^20</r:AllocationUnits><r:InstanceID>2</r:InstanceID><r:ResourceType>4</r:ResourceType><r:VirtualQuantity>8192</r:VirtualQuantity></o:Item>
      <o:Item><r:InstanceID>3</r:InstanceID><r:ResourceSubType>vmware.nvme.controller</r:ResourceSubType><r:ResourceType>20</r:ResourceType></o:Item>
      <o:StorageItem><s:AddressOnParent>0</s:AddressOnParent><s:ElementName>disk d1</s:ElementName><s:HostResource>ovf:/disk/d1</s:HostResource><s:InstanceID>4</s:InstanceID><s:Parent>3</s:Parent><s:ResourceType>17</s:ResourceType></o:StorageItem>
      <o:EthernetPortItem><e:Address>52:54:00:12:34:56</e:Address><e:Connection>lan</e:Connection><e:ElementName>eth0</e:ElementName><e:InstanceID>5</e:InstanceID><e:ResourceSubType>VmxNet3</e:ResourceSubType><e:ResourceType>10</e:ResourceType></o:EthernetPortItem>
    </o:VirtualHardwareSection>
  </o:VirtualSystem>
</o:Envelope>`;

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

function accepted(result: ParsedDescriptor): OvfEnvelope {
  if (!result.ok) throw new Error(`refused: ${JSON.stringify(result.reasons, null, 2)}`);
  return result.envelope;
}

function refusalReasons(result: ParsedDescriptor): PackageReason[] {
  if (result.ok) throw new Error('the descriptor was accepted');
  return result.reasons;
}

/** Replaces text that must be in the fixture, so a test can never pass by editing nothing. */
function mutate(xml: string, from: string | RegExp, to: string): string {
  const changed = xml.replace(from, to);
  if (changed === xml) throw new Error(`fixture has no ${String(from)}`);
  return changed;
}

function expectOnlyReason(xml: string, code: string, at?: string): PackageReason {
  const reasons = refusalReasons(parseDescriptor(xml));
  expect(reasons.map((reason) => reason.code)).toEqual([code]);
  if (at !== undefined) expect(reasons[0].at).toBe(at);
  return reasons[0];
}

describe('parseDescriptor', () => {
  describe('DMTF specification example', () => {
    const envelope = accepted(parseDescriptor(DMTF_EXAMPLE));

    it('reads files with their size, chunk size and compression', () => {
      expect(envelope.references).toEqual([
        {
          id: 'file1',
          href: 'vmdisk1.vmdk',
          sizeBytes: 180114671,
          compression: null,
          chunkSizeBytes: null,
        },
        {
          id: 'file2',
          href: 'vmdisk2.vmdk',
          sizeBytes: 4882023564,
          compression: null,
          chunkSizeBytes: 2147483648,
        },
        {
          id: 'file3',
          href: 'resource.iso',
          sizeBytes: 212148764,
          compression: 'gzip',
          chunkSizeBytes: null,
        },
      ]);
    });

    it('reads disks, a capacity given by a property and a blank disk', () => {
      expect(envelope.disks).toEqual([
        expect.objectContaining({
          diskId: 'vmdisk1',
          fileRef: 'file1',
          capacityBytes: 8 * GIB,
          populatedSizeBytes: 3549324972,
          format: 'vmdk-monolithicSparse',
        }),
        expect.objectContaining({
          diskId: 'vmdisk2',
          fileRef: 'file2',
          capacityBytes: 4 * GIB,
          format: 'vmdk-monolithicSparse',
        }),
        expect.objectContaining({ diskId: 'vmdisk3', fileRef: null, capacityBytes: 512 * MIB }),
      ]);
    });

    it('reads the system: hardware, controllers, disks on them, a NIC the destination gives a MAC', () => {
      const [system] = envelope.virtualSystems;
      expect(system).toMatchObject({
        id: 'MyLampService',
        name: 'LAMP Virtual Appliance',
        hardwareVersion: 'vmx-04',
        guestOs: '58',
        vcpus: 1,
        memoryBytes: 256 * MIB,
      });
      expect(system.controllers).toEqual([
        { instanceId: '4', kind: 'scsi', subtype: 'LsiLogic' },
        { instanceId: '5', kind: 'ide', subtype: null },
      ]);
      expect(system.disks).toEqual([
        {
          diskId: 'vmdisk1',
          controllerInstanceId: '4',
          addressOnParent: null,
          label: 'Harddisk 1',
        },
        { diskId: 'vmdisk2', controllerInstanceId: '4', addressOnParent: 1, label: 'Harddisk 2' },
        { diskId: 'vmdisk3', controllerInstanceId: '4', addressOnParent: 2, label: 'Harddisk 3' },
      ]);
      expect(system.nics).toEqual([
        {
          network: 'VM Network',
          adapterType: null,
          macAddress: null,
          label: 'Ethernet adapter on "VM Network"',
        },
      ]);
      expect(envelope.networks).toEqual([
        {
          name: 'VM Network',
          description: 'The network that the LAMP Service will be available on',
        },
      ]);
    });

    it('names product properties <class>.<key>.<instance> with their qualifiers', () => {
      expect(envelope.virtualSystems[0].products).toEqual([
        {
          key: 'org.linuxdistx.hostname.1',
          type: 'string',
          defaultValue: null,
          userConfigurable: true,
          label: 'Hostname',
          allowedValues: null,
          constraints: {},
        },
        {
          key: 'org.linuxdistx.disk.size.1',
          type: 'uint16',
          defaultValue: '4',
          userConfigurable: false,
          label: null,
          allowedValues: null,
          constraints: {},
        },
        {
          key: 'org.linuxdistx.loglevel.1',
          type: 'string',
          defaultValue: 'normal',
          userConfigurable: true,
          label: null,
          allowedValues: ['low', 'normal', 'debug'],
          constraints: {},
        },
      ]);
    });
  });

  describe('vSphere ovftool export with vmw: extensions', () => {
    const envelope = accepted(parseDescriptor(VSPHERE_OVFTOOL));
    const [system] = envelope.virtualSystems;

    it('takes the highest of several hardware versions and the vmw:osType guest', () => {
      expect(system).toMatchObject({
        id: 'photon',
        hardwareVersion: 'vmx-13',
        guestOs: 'vmwarePhoton64Guest',
        vcpus: 2,
        memoryBytes: 2048 * MIB,
      });
    });

    it('puts disks on the SCSI (pvscsi) and SATA controllers, skipping video and VMCI', () => {
      expect(system.controllers).toEqual([
        { instanceId: '3', kind: 'scsi', subtype: 'VirtualSCSI' },
        { instanceId: '4', kind: 'sata', subtype: 'vmware.sata.ahci' },
      ]);
      expect(
        system.disks.map((disk) => [disk.diskId, disk.controllerInstanceId, disk.addressOnParent]),
      ).toEqual([
        ['vmdisk1', '3', 0],
        ['vmdisk2', '4', 0],
      ]);
      expect(
        envelope.disks.map((disk) => [disk.capacityBytes, disk.populatedSizeBytes, disk.format]),
      ).toEqual([
        [16 * GIB, 1234567168, 'vmdk-streamOptimized'],
        [512 * MIB, 0, 'vmdk-streamOptimized'],
      ]);
    });

    it('reads each NIC with its adapter and its MAC, lower-case and colon-separated', () => {
      expect(system.nics).toEqual([
        {
          network: 'VM Network',
          adapterType: 'VmxNet3',
          macAddress: '00:50:56:ab:cd:01',
          label: 'Network adapter 1',
        },
        {
          network: 'Backend',
          adapterType: 'E1000',
          macAddress: '00:50:56:ab:cd:02',
          label: 'Network adapter 2',
        },
      ]);
    });

    it('reads MinLen and MaxLen qualifiers', () => {
      expect(system.products).toEqual([
        expect.objectContaining({
          key: 'guestinfo.hostname',
          userConfigurable: true,
          constraints: { minLength: 1, maxLength: 63 },
        }),
      ]);
    });
  });

  describe('VirtualBox OVF 1.0 export', () => {
    const envelope = accepted(parseDescriptor(VIRTUALBOX_EXPORT));
    const [system] = envelope.virtualSystems;

    it('skips vbox:Machine, reads MegaBytes memory and byte capacities, and has no vmx version', () => {
      expect(system).toMatchObject({
        id: 'debian',
        name: 'debian',
        hardwareVersion: null,
        guestOs: '96',
        vcpus: 1,
        memoryBytes: 1024 * MIB,
      });
      expect(envelope.disks.map((disk) => disk.capacityBytes)).toEqual([20 * GIB, GIB]);
      expect(envelope.references.map((file) => file.sizeBytes)).toEqual([null, null]);
    });

    it('attaches disks across SATA (AHCI, type 20) and IDE (PIIX4) controllers', () => {
      expect(
        system.controllers.map((controller) => [
          controller.instanceId,
          controller.kind,
          controller.subtype,
        ]),
      ).toEqual([
        ['3', 'ide', 'PIIX4'],
        ['4', 'ide', 'PIIX4'],
        ['5', 'sata', 'AHCI'],
      ]);
      expect(system.disks).toEqual([
        { diskId: 'vmdisk1', controllerInstanceId: '5', addressOnParent: 0, label: 'disk1' },
        { diskId: 'vmdisk2', controllerInstanceId: '3', addressOnParent: 1, label: 'disk2' },
      ]);
      expect(system.nics).toEqual([
        {
          network: 'NAT',
          adapterType: 'E1000',
          macAddress: null,
          label: "Ethernet adapter on 'NAT'",
        },
      ]);
    });
  });

  describe('VirtualSystemCollection', () => {
    it('reads both systems, each with the collection-level product properties', () => {
      const envelope = accepted(parseDescriptor(COLLECTION));
      expect(
        envelope.virtualSystems.map((system) => [
          system.id,
          system.hardwareVersion,
          system.vcpus,
          system.memoryBytes,
        ]),
      ).toEqual([
        ['web', 'vmx-11', 1, GIB],
        ['db', 'vmx-12', 2, 2 * GIB],
      ]);
      expect(envelope.virtualSystems.map((system) => system.disks[0].diskId)).toEqual([
        'webdisk',
        'dbdisk',
      ]);
      for (const system of envelope.virtualSystems) {
        expect(system.products.map((property) => property.key)).toEqual([
          'com.example.service.admin.email',
        ]);
      }
    });

    it('refuses two systems with one id', () => {
      expectOnlyReason(
        mutate(COLLECTION, '<VirtualSystem ovf:id="db">', '<VirtualSystem ovf:id="web">'),
        'OVF.DUPLICATE_ID',
      );
    });
  });

  describe('OVF 2.0 envelope', () => {
    it('reads namespaces by URI whatever the prefixes, with StorageItem and EthernetPortItem', () => {
      const envelope = accepted(parseDescriptor(OVF2_ENVELOPE));
      const [system] = envelope.virtualSystems;
      expect(envelope.disks).toEqual([
        {
          diskId: 'd1',
          fileRef: 'f1',
          capacityBytes: 10 * GIB,
          populatedSizeBytes: null,
          formatUri: 'http://www.gnome.org/~markmc/qcow-image-format.html',
          format: 'qcow2',
        },
      ]);
      expect(system).toMatchObject({
        id: 'vm2',
        name: 'vm-two',
        hardwareVersion: 'vmx-19',
        vcpus: 4,
        memoryBytes: 8 * GIB,
      });
      expect(system.controllers).toEqual([
        { instanceId: '3', kind: 'nvme', subtype: 'vmware.nvme.controller' },
      ]);
      expect(system.disks).toEqual([
        { diskId: 'd1', controllerInstanceId: '3', addressOnParent: 0, label: 'disk d1' },
      ]);
      expect(system.nics).toEqual([
        { network: 'lan', adapterType: 'VmxNet3', macAddress: '52:54:00:12:34:56', label: 'eth0' },
      ]);
    });

    it('does not read an OVF 1 element inside an OVF 2 envelope as its own', () => {
      const reasons = refusalReasons(
        parseDescriptor(
          mutate(
            OVF2_ENVELOPE,
            /<o:References>[\s\S]*<\/o:References>/,
            '<References xmlns="http://schemas.dmtf.org/ovf/envelope/1"><File id="f1" href="disk.qcow2"/></References>',
          ),
        ),
      );
      expect(reasons.map((reason) => reason.code)).toEqual([
        'OVF.UNKNOWN_REQUIRED_SECTION',
        'OVF.MISSING_SECTION',
        'OVF.UNRESOLVED_FILE_REF',
      ]);
    });
  });

  describe('refusals, each with its reason and where', () => {
    it('a disk item pointing at no disk', () => {
      const reason = expectOnlyReason(
        mutate(VSPHERE_OVFTOOL, 'ovf:/disk/vmdisk2', 'ovf:/disk/vmdisk9'),
        'OVF.UNRESOLVED_DISK_REF',
      );
      expect(reason.at).toBe('/Envelope/VirtualSystem/VirtualHardwareSection/Item[8]');
      expect(reason.detail).toContain('vmdisk9');
    });

    it('a disk item whose HostResource is not ovf:/disk or ovf:/file', () => {
      expectOnlyReason(
        mutate(VSPHERE_OVFTOOL, 'ovf:/disk/vmdisk2', 'http://example.com/disk.vmdk'),
        'OVF.UNRESOLVED_DISK_REF',
      );
    });

    it('a disk item naming a file no Disk describes, and one naming no file at all', () => {
      const reasons = refusalReasons(
        parseDescriptor(
          mutate(
            mutate(DMTF_EXAMPLE, 'ovf:/disk/vmdisk1', 'ovf:/file/file3'),
            'ovf:/disk/vmdisk2',
            'ovf:/file/file9',
          ),
        ),
      );
      expect(reasons.map((reason) => reason.code)).toEqual([
        'OVF.UNRESOLVED_DISK_REF',
        'OVF.UNRESOLVED_FILE_REF',
      ]);
    });

    it('a disk item on a Parent that is no controller', () => {
      expectOnlyReason(
        mutate(VSPHERE_OVFTOOL, '<rasd:Parent>4</rasd:Parent>', '<rasd:Parent>9</rasd:Parent>'),
        'OVF.UNKNOWN_CONTROLLER',
        '/Envelope/VirtualSystem/VirtualHardwareSection/Item[8]',
      );
    });

    it('a disk item with no Parent', () => {
      expectOnlyReason(
        mutate(VSPHERE_OVFTOOL, '<rasd:Parent>4</rasd:Parent>', ''),
        'OVF.UNKNOWN_CONTROLLER',
      );
    });

    it('a controller of an unknown kind (Fibre Channel), reported once for the controller', () => {
      const reason = expectOnlyReason(
        mutate(
          VSPHERE_OVFTOOL,
          '<rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType>\n        <rasd:ResourceType>20</rasd:ResourceType>',
          '<rasd:ResourceType>7</rasd:ResourceType>',
        ),
        'OVF.UNKNOWN_CONTROLLER',
        '/Envelope/VirtualSystem/VirtualHardwareSection/Item[4]',
      );
      expect(reason.detail).toContain('ResourceType 7');
    });

    it('a disk on an optional controller of an unknown kind: the disk is refused, never dropped', () => {
      const xml = mutate(
        VSPHERE_OVFTOOL,
        '<Item>\n        <rasd:Address>0</rasd:Address>\n        <rasd:Description>SATA Controller</rasd:Description>',
        '<Item ovf:required="false">\n        <rasd:Address>0</rasd:Address>\n        <rasd:Description>SATA Controller</rasd:Description>',
      );
      const unknownKind = mutate(
        xml,
        '<rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType>',
        '<rasd:ResourceSubType>vmware.floppy.bus</rasd:ResourceSubType>',
      );
      expectOnlyReason(
        unknownKind,
        'OVF.UNKNOWN_CONTROLLER',
        '/Envelope/VirtualSystem/VirtualHardwareSection/Item[8]',
      );
    });

    it('an optional controller of an unknown kind with nothing on it is skipped', () => {
      const xml = mutate(
        VIRTUALBOX_EXPORT,
        '<Item>\n        <rasd:Address>0</rasd:Address>\n        <rasd:Caption>sataController0</rasd:Caption>',
        '<Item ovf:required="false">\n        <rasd:Address>0</rasd:Address>\n        <rasd:Caption>sataController0</rasd:Caption>',
      );
      const withoutDisk = mutate(
        mutate(
          xml,
          '<rasd:ResourceSubType>AHCI</rasd:ResourceSubType>',
          '<rasd:ResourceSubType>SAS</rasd:ResourceSubType>',
        ),
        '<rasd:Parent>5</rasd:Parent>',
        '<rasd:Parent>4</rasd:Parent>',
      );
      expect(
        accepted(parseDescriptor(withoutDisk)).virtualSystems[0].controllers.map(
          (controller) => controller.kind,
        ),
      ).toEqual(['ide', 'ide']);
    });

    it('a storage controller of an unknown subtype', () => {
      expectOnlyReason(
        mutate(
          VIRTUALBOX_EXPORT,
          '<rasd:ResourceSubType>AHCI</rasd:ResourceSubType>',
          '<rasd:ResourceSubType>LsiLogicSASxyz</rasd:ResourceSubType>',
        ),
        'OVF.UNKNOWN_CONTROLLER',
      );
    });

    it('a disk whose fileRef resolves to nothing', () => {
      expectOnlyReason(
        mutate(VSPHERE_OVFTOOL, 'ovf:fileRef="file2"', 'ovf:fileRef="file7"'),
        'OVF.UNRESOLVED_FILE_REF',
        '/Envelope/DiskSection/Disk[2]',
      );
    });

    it('a NIC on a network NetworkSection does not declare', () => {
      const reason = expectOnlyReason(
        mutate(
          VSPHERE_OVFTOOL,
          '<rasd:Connection>Backend</rasd:Connection>',
          '<rasd:Connection>Elsewhere</rasd:Connection>',
        ),
        'OVF.UNKNOWN_NETWORK',
      );
      expect(reason.at).toBe('/Envelope/VirtualSystem/VirtualHardwareSection/Item[10]');
    });

    it('a NIC with a MAC that is not one', () => {
      expectOnlyReason(
        mutate(VSPHERE_OVFTOOL, '00:50:56:AB:cd:01', '00:50:56:AB:cd'),
        'OVF.BAD_MAC_ADDRESS',
      );
    });

    it.each([
      ['a capacity that is not a number', 'ovf:capacity="16"', 'ovf:capacity="sixteen"'],
      ['a negative capacity', 'ovf:capacity="16"', 'ovf:capacity="-16"'],
      ['a zero capacity', 'ovf:capacity="16"', 'ovf:capacity="0"'],
      ['a fractional capacity', 'ovf:capacity="16"', 'ovf:capacity="1.5"'],
      [
        'a capacity beyond the largest safe integer',
        'ovf:capacity="16"',
        'ovf:capacity="9007199254740993"',
      ],
      ['a capacity that overflows once scaled', 'ovf:capacity="16"', 'ovf:capacity="9007199254"'],
      [
        'unknown capacity units',
        'ovf:capacityAllocationUnits="byte * 2^20"',
        'ovf:capacityAllocationUnits="furlongs"',
      ],
      [
        'an absurd exponent',
        'ovf:capacityAllocationUnits="byte * 2^20"',
        'ovf:capacityAllocationUnits="byte * 2^99"',
      ],
      [
        'a fractional vCPU count',
        '<rasd:VirtualQuantity>2</rasd:VirtualQuantity>',
        '<rasd:VirtualQuantity>1.5</rasd:VirtualQuantity>',
      ],
      [
        'zero vCPUs',
        '<rasd:VirtualQuantity>2</rasd:VirtualQuantity>',
        '<rasd:VirtualQuantity>0</rasd:VirtualQuantity>',
      ],
      [
        'negative memory',
        '<rasd:VirtualQuantity>2048</rasd:VirtualQuantity>',
        '<rasd:VirtualQuantity>-2048</rasd:VirtualQuantity>',
      ],
      [
        'memory in units that are no bytes',
        '<rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>\n        <rasd:Description>Memory',
        '<rasd:AllocationUnits>hertz</rasd:AllocationUnits>\n        <rasd:Description>Memory',
      ],
      ['a file size that is no number', 'ovf:size="68096"', 'ovf:size="1e5"'],
      ['a populated size that is negative', 'ovf:populatedSize="0"', 'ovf:populatedSize="-1"'],
      [
        'an AddressOnParent that is no number',
        '<rasd:AddressOnParent>0</rasd:AddressOnParent>\n        <rasd:ElementName>Hard disk 2',
        '<rasd:AddressOnParent>x</rasd:AddressOnParent>\n        <rasd:ElementName>Hard disk 2',
      ],
      [
        'a ResourceType that is no number',
        '<rasd:ResourceType>24</rasd:ResourceType>',
        '<rasd:ResourceType>video</rasd:ResourceType>',
      ],
    ])('%s', (_name, from, to) => {
      expectOnlyReason(mutate(VSPHERE_OVFTOOL, from, to), 'OVF.BAD_NUMBER');
    });

    it('an unknown disk format URI: format null in the reason, and no envelope', () => {
      const reason = expectOnlyReason(
        mutate(
          VSPHERE_OVFTOOL,
          'ovf:fileRef="file2" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"',
          'ovf:fileRef="file2" ovf:format="http://technet.microsoft.com/en-us/virtualserver/bb676673.aspx"',
        ),
        'OVF.UNSUPPORTED_DISK_FORMAT',
        '/Envelope/DiskSection/Disk[2]',
      );
      expect(reason.detail).toContain('bb676673');
    });

    it('a disk with no format at all', () => {
      expectOnlyReason(
        mutate(
          OVF2_ENVELOPE,
          ' o:format="http://www.gnome.org/~markmc/qcow-image-format.html"',
          '',
        ),
        'OVF.UNSUPPORTED_DISK_FORMAT',
      );
    });

    it('a compression other than gzip', () => {
      expectOnlyReason(
        mutate(DMTF_EXAMPLE, 'ovf:compression="gzip"', 'ovf:compression="bzip2"'),
        'OVF.UNSUPPORTED_COMPRESSION',
      );
    });

    it('a zero chunk size', () => {
      expectOnlyReason(
        mutate(DMTF_EXAMPLE, 'ovf:chunkSize="2147483648"', 'ovf:chunkSize="0"'),
        'OVF.BAD_NUMBER',
      );
    });

    it.each([
      ['../../etc/passwd', 'climbs out'],
      ['/etc/passwd', 'absolute'],
      ['http://example.com/disk.vmdk', 'URL'],
      ['file:///etc/passwd', 'URL'],
    ])('a file href %s', (href, problem) => {
      const reason = expectOnlyReason(
        mutate(VSPHERE_OVFTOOL, 'ovf:href="photon-disk2.vmdk"', `ovf:href="${href}"`),
        'OVF.BAD_FILE_HREF',
      );
      expect(reason.detail).toContain(problem);
    });

    it('an unknown section the package marks required, explicitly or by default', () => {
      const unknown = '<Extra xmlns="urn:example:extra"><Info>needs a feature</Info></Extra>';
      const optional =
        '<Extra xmlns="urn:example:extra" xmlns:o="http://schemas.dmtf.org/ovf/envelope/1" o:required="false"/>';
      const required = '<ovf:FutureSection ovf:required="true"><Info>x</Info></ovf:FutureSection>';
      const reasons = refusalReasons(
        parseDescriptor(
          mutate(
            VSPHERE_OVFTOOL,
            '  </VirtualSystem>',
            `${unknown}${optional}${required}</VirtualSystem>`,
          ),
        ),
      );
      expect(reasons.map((reason) => [reason.code, reason.at])).toEqual([
        ['OVF.UNKNOWN_REQUIRED_SECTION', '/Envelope/VirtualSystem/Extra[1]'],
        ['OVF.UNKNOWN_REQUIRED_SECTION', '/Envelope/VirtualSystem/FutureSection'],
      ]);
    });

    it('an unknown required element inside an item', () => {
      expectOnlyReason(
        mutate(
          VSPHERE_OVFTOOL,
          '<vmw:CoresPerSocket ovf:required="false">2</vmw:CoresPerSocket>',
          '<vmw:HyperThreads>2</vmw:HyperThreads>',
        ),
        'OVF.UNKNOWN_REQUIRED_ELEMENT',
      );
    });

    it('a root that is not an OVF envelope', () => {
      expectOnlyReason(
        '<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"/>',
        'OVF.NOT_AN_ENVELOPE',
        '/Envelope',
      );
    });

    it('an envelope without its essentials, every one named', () => {
      const reasons = refusalReasons(
        parseDescriptor(`<Envelope ${NS}><DiskSection><Info/></DiskSection></Envelope>`),
      );
      expect(reasons.map((reason) => reason.detail)).toEqual([
        'the envelope has no References section',
        'the envelope has no VirtualSystem or VirtualSystemCollection',
      ]);
    });

    it('a system without VirtualHardwareSection', () => {
      expectOnlyReason(
        mutate(VSPHERE_OVFTOOL, /<VirtualHardwareSection>[\s\S]*<\/VirtualHardwareSection>/, ''),
        'OVF.MISSING_SECTION',
      );
    });

    it('disks attached with no DiskSection', () => {
      const reasons = refusalReasons(
        parseDescriptor(mutate(VSPHERE_OVFTOOL, /<DiskSection>[\s\S]*<\/DiskSection>/, '')),
      );
      expect(reasons.map((reason) => reason.code)).toEqual([
        'OVF.UNRESOLVED_DISK_REF',
        'OVF.UNRESOLVED_DISK_REF',
        'OVF.MISSING_SECTION',
      ]);
    });

    it('a system without memory', () => {
      expectOnlyReason(
        mutate(
          VSPHERE_OVFTOOL,
          '<rasd:ResourceType>4</rasd:ResourceType>',
          '<rasd:ResourceType>44</rasd:ResourceType>',
        ),
        'OVF.MISSING_ELEMENT',
      );
    });

    it.each([
      ['file ids', 'ovf:id="file2"', 'ovf:id="file1"'],
      ['disk ids', 'ovf:diskId="vmdisk2"', 'ovf:diskId="vmdisk1"'],
      ['network names', 'ovf:name="Backend"', 'ovf:name="VM Network"'],
      [
        'item InstanceIDs',
        '<rasd:InstanceID>10</rasd:InstanceID>',
        '<rasd:InstanceID>9</rasd:InstanceID>',
      ],
    ])('duplicate %s', (_name, from, to) => {
      const reasons = refusalReasons(parseDescriptor(mutate(VSPHERE_OVFTOOL, from, to)));
      expect(reasons.map((reason) => reason.code)).toContain('OVF.DUPLICATE_ID');
    });

    it('a disk attached twice', () => {
      expectOnlyReason(
        mutate(VSPHERE_OVFTOOL, 'ovf:/disk/vmdisk2', 'ovf:/disk/vmdisk1'),
        'OVF.DISK_ATTACHED_TWICE',
      );
    });

    it('collects every reason at once, not only the first', () => {
      let xml = mutate(VSPHERE_OVFTOOL, 'ovf:/disk/vmdisk2', 'ovf:/disk/nowhere');
      xml = mutate(xml, 'ovf:fileRef="file1"', 'ovf:fileRef="nofile"');
      xml = mutate(
        xml,
        '<rasd:Connection>Backend</rasd:Connection>',
        '<rasd:Connection>Nowhere</rasd:Connection>',
      );
      xml = mutate(
        xml,
        '<rasd:VirtualQuantity>2</rasd:VirtualQuantity>',
        '<rasd:VirtualQuantity>two</rasd:VirtualQuantity>',
      );
      const reasons = refusalReasons(parseDescriptor(xml));
      expect(reasons.map((reason) => reason.code).sort()).toEqual(
        [
          'OVF.BAD_NUMBER',
          'OVF.UNKNOWN_NETWORK',
          'OVF.UNRESOLVED_DISK_REF',
          'OVF.UNRESOLVED_FILE_REF',
        ].sort(),
      );
      for (const reason of reasons) expect(reason.at).toMatch(/^\/Envelope/);
    });
  });

  it('reads a file both gzip-compressed and chunked', () => {
    const xml = mutate(
      VSPHERE_OVFTOOL,
      'ovf:size="68096"',
      'ovf:size="68096" ovf:compression="gzip" ovf:chunkSize="65536"',
    );
    expect(accepted(parseDescriptor(xml)).references[1]).toEqual({
      id: 'file2',
      href: 'photon-disk2.vmdk',
      sizeBytes: 68096,
      compression: 'gzip',
      chunkSizeBytes: 65536,
    });
  });

  describe('disk format URIs real tools write', () => {
    it.each([
      [
        'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized',
        'vmdk-streamOptimized',
      ],
      [
        'https://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized',
        'vmdk-streamOptimized',
      ],
      ['http://www.vmware.com/specifications/vmdk.html#compressed', 'vmdk-streamOptimized'],
      ['http://www.vmware.com/interfaces/specifications/vmdk.html#sparse', 'vmdk-monolithicSparse'],
      ['http://www.vmware.com/specifications/vmdk.html#sparse', 'vmdk-monolithicSparse'],
      [
        'http://www.vmware.com/interfaces/specifications/vmdk.html#monolithicFlat',
        'vmdk-monolithicFlat',
      ],
      [
        'http://www.vmware.com/technical-resources/interfaces/vmdk_access.html#monolithic_flat',
        'vmdk-monolithicFlat',
      ],
      ['http://www.gnome.org/~markmc/qcow-image-format.html', 'qcow2'],
      ['http://people.gnome.org/~markmc/qcow-image-format.html#monolithic_sparse', 'qcow2'],
      ['http://raw', 'raw'],
    ])('%s is %s', (uri, format) => {
      const qcowUri = 'http://www.gnome.org/~markmc/qcow-image-format.html';
      expect(OVF2_ENVELOPE).toContain(qcowUri);
      const envelope = accepted(parseDescriptor(OVF2_ENVELOPE.replace(qcowUri, uri)));
      expect(envelope.disks[0]).toMatchObject({ formatUri: uri, format });
    });

    it("honours oVirt's ovf:volume-format over the URI it writes for raw volumes", () => {
      const xml = mutate(
        OVF2_ENVELOPE,
        'o:format="http://www.gnome.org/~markmc/qcow-image-format.html"',
        'o:format="http://www.vmware.com/specifications/vmdk.html#sparse" o:volume-format="RAW"',
      );
      expect(accepted(parseDescriptor(xml)).disks[0].format).toBe('raw');
    });
  });

  describe('deployment options', () => {
    const withOptions = mutate(
      mutate(
        VSPHERE_OVFTOOL,
        '  <VirtualSystem ovf:id="photon">',
        `  <DeploymentOptionSection>
    <Info>Sizes</Info>
    <Configuration ovf:id="small"><Label>Small</Label><Description>2 vCPUs</Description></Configuration>
    <Configuration ovf:id="large" ovf:default="true"><Label>Large</Label><Description>8 vCPUs</Description></Configuration>
    <Configuration ovf:id="huge"><Label>Huge</Label><Description>16 vCPUs</Description></Configuration>
  </DeploymentOptionSection>
  <VirtualSystem ovf:id="photon">`,
      ),
      '        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>\n        <vmw:CoresPerSocket ovf:required="false">2</vmw:CoresPerSocket>\n      </Item>',
      `        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
      </Item>
      <Item ovf:configuration="large huge">
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>8</rasd:VirtualQuantity>
      </Item>`,
    ).replace(
      '<Item>\n        <rasd:AllocationUnits>hertz',
      '<Item ovf:configuration="small">\n        <rasd:AllocationUnits>hertz',
    );

    it('applies the ovf:default option when none is asked for', () => {
      const envelope = accepted(parseDescriptor(withOptions));
      expect(envelope.deploymentOptions).toEqual([
        { id: 'small', label: 'Small', isDefault: false },
        { id: 'large', label: 'Large', isDefault: true },
        { id: 'huge', label: 'Huge', isDefault: false },
      ]);
      expect(envelope.virtualSystems[0].vcpus).toBe(8);
    });

    it('applies the option asked for', () => {
      expect(
        accepted(parseDescriptor(withOptions, { deploymentOption: 'small' })).virtualSystems[0]
          .vcpus,
      ).toBe(2);
      expect(
        accepted(parseDescriptor(withOptions, { deploymentOption: 'huge' })).virtualSystems[0]
          .vcpus,
      ).toBe(8);
    });

    it('takes the first option when none is the default', () => {
      const xml = mutate(
        withOptions,
        '<Configuration ovf:id="large" ovf:default="true">',
        '<Configuration ovf:id="large">',
      );
      expect(accepted(parseDescriptor(xml)).virtualSystems[0].vcpus).toBe(2);
    });

    it('refuses an option the package does not have', () => {
      const reason = refusalReasons(parseDescriptor(withOptions, { deploymentOption: 'gigantic' }));
      expect(reason.map((each) => each.code)).toContain('OVF.UNKNOWN_DEPLOYMENT_OPTION');
      expect(reason[0].detail).toContain('small, large, huge');
    });

    it('refuses an option asked of a package without options', () => {
      const reasons = refusalReasons(
        parseDescriptor(VSPHERE_OVFTOOL, { deploymentOption: 'small' }),
      );
      expect(reasons.map((reason) => [reason.code, reason.at])).toEqual([
        ['OVF.UNKNOWN_DEPLOYMENT_OPTION', '/Envelope'],
      ]);
    });

    it('reads a property value per option', () => {
      const xml = mutate(
        withOptions,
        '<Label>Hostname</Label>',
        '<Label>Hostname</Label><Value ovf:value="small-host" ovf:configuration="small"/><Value ovf:value="large-host" ovf:configuration="large"/>',
      );
      expect(accepted(parseDescriptor(xml)).virtualSystems[0].products[0].defaultValue).toBe(
        'large-host',
      );
      expect(
        accepted(parseDescriptor(xml, { deploymentOption: 'small' })).virtualSystems[0].products[0]
          .defaultValue,
      ).toBe('small-host');
      expect(
        accepted(parseDescriptor(xml, { deploymentOption: 'huge' })).virtualSystems[0].products[0]
          .defaultValue,
      ).toBeNull();
    });
  });
});
