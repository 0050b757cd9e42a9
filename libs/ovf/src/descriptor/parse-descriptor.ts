import type {
  ControllerKind,
  DiskImageFormat,
  OvfController,
  OvfDeploymentOption,
  OvfDisk,
  OvfDiskAttachment,
  OvfFileReference,
  OvfNic,
  OvfProductProperty,
  OvfVirtualSystem,
  PackageReason,
  ParsedDescriptor,
} from '../model';
import { diskFormatOfOvirtVolume, diskFormatOfUri } from './disk-formats';
import {
  EPASD_NAMESPACE,
  OVF1_NAMESPACE,
  OVF2_NAMESPACE,
  RASD_NAMESPACE,
  SASD_NAMESPACE,
  VBOX_NAMESPACE,
  VMW_NAMESPACE,
  VSSD_NAMESPACE,
  XSI_NAMESPACE,
} from './namespaces';
import { parseWholeNumber, scaleToBytes } from './numbers';
import { isKnownPropertyType, readQualifiers } from './product-properties';
import {
  DEFAULT_DESCRIPTOR_LIMITS,
  type DescriptorLimits,
  pathOf,
  readXmlTree,
  type XmlElement,
} from './xml-tree';

export interface ParseDescriptorOptions {
  /** The DeploymentOptionSection configuration to apply; default: the ovf:default one, else the first. */
  deploymentOption?: string;
  limits?: Partial<DescriptorLimits>;
}

/**
 * Reads an OVF 1.x or 2.x descriptor (untrusted) into the package model, with every reason it
 * is refused. Never throws: whatever the input, the answer is an envelope or reasons.
 */
export function parseDescriptor(
  xml: Buffer | string,
  options: ParseDescriptorOptions = {},
): ParsedDescriptor {
  const limits: DescriptorLimits = { ...DEFAULT_DESCRIPTOR_LIMITS, ...options.limits };
  try {
    const tree = readXmlTree(xml, limits);
    if (!tree.ok) return tree;
    return new EnvelopeReader(
      tree.root,
      options.deploymentOption ?? null,
      limits.maxReasons,
    ).read();
  } catch (error) {
    // A defect of this reader must still reach the caller as a refusal, not crash an import.
    return {
      ok: false,
      reasons: [
        {
          code: 'OVF.UNREADABLE',
          detail: `the descriptor could not be read: ${error instanceof Error ? error.message : String(error)}`,
        },
      ],
    };
  }
}

/** Stops reading once the reasons reach their bound; caught in `read`. */
class ReasonsExhausted extends Error {}

/** Sections read, or known to change nothing Dolly builds, wherever a section may stand. */
const KNOWN_OVF_SECTIONS = new Set([
  'Info',
  'Name',
  'References',
  'DiskSection',
  'NetworkSection',
  'DeploymentOptionSection',
  'VirtualSystem',
  'VirtualSystemCollection',
  'VirtualHardwareSection',
  'OperatingSystemSection',
  'ProductSection',
  'AnnotationSection',
  'EulaSection',
  'StartupSection',
  'ResourceAllocationSection',
  'InstallSection',
  'Strings',
]);

/** Vendor elements that tune the product that wrote them; Dolly has nothing to apply them to. */
const IGNORED_VENDOR_ELEMENTS = new Set([
  `${VMW_NAMESPACE} Config`,
  `${VMW_NAMESPACE} ExtraConfig`,
  `${VMW_NAMESPACE} CoresPerSocket`,
  `${VMW_NAMESPACE} BootOrderSection`,
  `${VMW_NAMESPACE} IpAssignmentSection`,
  `${VMW_NAMESPACE} StorageGroupSection`,
  `${VMW_NAMESPACE} StorageSection`,
  `${VBOX_NAMESPACE} Machine`,
]);

/** CIM ResourceType values (DSP1041 / CIM_ResourceAllocationSettingData) the reader acts on. */
const RESOURCE_TYPE = {
  other: 1,
  processor: 3,
  memory: 4,
  ideController: 5,
  parallelScsiHba: 6,
  fibreChannelHba: 7,
  iscsiHba: 8,
  infinibandHca: 9,
  ethernetAdapter: 10,
  cdDrive: 15,
  dvdDrive: 16,
  diskDrive: 17,
  otherStorageDevice: 20,
} as const;

/** ResourceSubTypes that name a SATA or NVMe controller (vSphere under type 1, VirtualBox under 20). */
const SATA_SUBTYPES = new Set(['ahci', 'vmware.sata.ahci', 'sata']);
const NVME_SUBTYPES = new Set(['vmware.nvme.controller', 'nvme']);

const DISK_HOST_RESOURCE = /^(?:ovf:)?\/disk\/(.+)$/;
const FILE_HOST_RESOURCE = /^(?:ovf:)?\/file\/(.+)$/;
const MAC_ADDRESS = /^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/i;

/** A controller Dolly cannot provide: already refused, or marked optional by the package. */
type UnsupportedController = 'refused' | 'optional';

interface HardwareItem {
  element: XmlElement;
  /** The CIM namespace its properties are in (rasd, sasd or epasd). */
  dataNamespace: string;
  instanceId: string;
  resourceType: number;
  subtype: string | null;
  required: boolean;
}

interface Hardware {
  hardwareVersion: string | null;
  vcpus: number | null;
  memoryBytes: number | null;
  /** Whether the section has a processor / memory item at all (a bad one already has its reason). */
  hasProcessor: boolean;
  hasMemory: boolean;
  controllers: OvfController[];
  disks: OvfDiskAttachment[];
  nics: OvfNic[];
}

class EnvelopeReader {
  private readonly reasons: PackageReason[] = [];
  private readonly ovf: string;
  private readonly files = new Map<string, OvfFileReference>();
  private readonly disks = new Map<string, OvfDisk>();
  private readonly networks = new Map<string, { name: string; description: string | null }>();
  private readonly deploymentOptions: OvfDeploymentOption[] = [];
  private chosenOption: string | null = null;
  private readonly systemIds = new Set<string>();
  private readonly attachedDisks = new Set<string>();
  private diskItemSeen = false;

  constructor(
    private readonly root: XmlElement,
    private readonly requestedOption: string | null,
    private readonly maxReasons: number,
  ) {
    this.ovf = root.uri;
  }

  read(): ParsedDescriptor {
    let virtualSystems: OvfVirtualSystem[] = [];
    try {
      virtualSystems = this.readEnvelope();
    } catch (error) {
      if (!(error instanceof ReasonsExhausted)) throw error;
    }
    if (this.reasons.length > 0) return { ok: false, reasons: this.reasons };
    return {
      ok: true,
      envelope: {
        references: [...this.files.values()],
        disks: [...this.disks.values()],
        networks: [...this.networks.values()],
        deploymentOptions: this.deploymentOptions,
        virtualSystems,
      },
    };
  }

  private readEnvelope(): OvfVirtualSystem[] {
    const root = this.root;
    if (root.local !== 'Envelope' || (root.uri !== OVF1_NAMESPACE && root.uri !== OVF2_NAMESPACE)) {
      this.refuse(
        'OVF.NOT_AN_ENVELOPE',
        `the root element is {${root.uri}}${root.local}, not an OVF 1.x or 2.x Envelope`,
        root,
      );
      return [];
    }
    this.checkExtensions(root);

    const references = this.child(root, 'References');
    if (references === null)
      this.refuse('OVF.MISSING_SECTION', 'the envelope has no References section', root);
    else this.readReferences(references);

    this.readDeploymentOptions();

    const diskSection = this.child(root, 'DiskSection');
    if (diskSection !== null) this.readDisks(diskSection);
    const networkSection = this.child(root, 'NetworkSection');
    if (networkSection !== null) this.readNetworks(networkSection);

    const contents = root.children.filter(
      (child) =>
        child.uri === this.ovf &&
        (child.local === 'VirtualSystem' || child.local === 'VirtualSystemCollection'),
    );
    if (contents.length === 0) {
      this.refuse(
        'OVF.MISSING_SECTION',
        'the envelope has no VirtualSystem or VirtualSystemCollection',
        root,
      );
    } else if (contents.length > 1) {
      this.refuse(
        'OVF.SEVERAL_CONTENTS',
        'the envelope has more than one VirtualSystem or VirtualSystemCollection',
        contents[1],
      );
    }
    const systems = contents.flatMap((content) => this.readContent(content, []));
    if (this.diskItemSeen && diskSection === null) {
      this.refuse(
        'OVF.MISSING_SECTION',
        'disks are attached but the envelope has no DiskSection',
        root,
      );
    }
    return systems;
  }

  // ---- References, DeploymentOptionSection, DiskSection, NetworkSection ----

  private readReferences(section: XmlElement): void {
    for (const file of this.children(section, 'File')) {
      const id = this.requiredAttribute(file, 'id');
      const href = this.requiredAttribute(file, 'href');
      if (id === null || href === null) continue;
      if (this.files.has(id)) {
        this.refuse('OVF.DUPLICATE_ID', `file id ${id} is declared twice`, file);
        continue;
      }
      const hrefProblem = fileHrefProblem(href);
      if (hrefProblem !== null)
        this.refuse(
          'OVF.BAD_FILE_HREF',
          `file ${id}: href '${href.slice(0, 256)}' ${hrefProblem}`,
          file,
        );
      const sizeBytes = this.optionalWholeNumber(file, 'size', `file ${id}`);
      const chunkSizeBytes = this.optionalWholeNumber(file, 'chunkSize', `file ${id}`);
      if (chunkSizeBytes === 0)
        this.refuse('OVF.BAD_NUMBER', `file ${id}: ovf:chunkSize is zero`, file);
      const compressionText = this.attribute(file, 'compression');
      let compression: 'gzip' | null = null;
      if (compressionText === 'gzip') compression = 'gzip';
      else if (
        compressionText !== null &&
        compressionText !== '' &&
        compressionText !== 'identity'
      ) {
        this.refuse(
          'OVF.UNSUPPORTED_COMPRESSION',
          `file ${id} is compressed with '${compressionText.slice(0, 64)}'; only gzip is read`,
          file,
        );
      }
      this.files.set(id, { id, href, sizeBytes, compression, chunkSizeBytes });
    }
  }

  private readDeploymentOptions(): void {
    const section = this.child(this.root, 'DeploymentOptionSection');
    if (section !== null) {
      for (const configuration of this.children(section, 'Configuration')) {
        const id = this.requiredAttribute(configuration, 'id');
        if (id === null) continue;
        if (this.deploymentOptions.some((option) => option.id === id)) {
          this.refuse(
            'OVF.DUPLICATE_ID',
            `deployment option ${id} is declared twice`,
            configuration,
          );
          continue;
        }
        const label = this.textOf(this.child(configuration, 'Label')) ?? id;
        this.deploymentOptions.push({
          id,
          label,
          isDefault: isTrue(this.attribute(configuration, 'default')),
        });
      }
    }
    if (this.requestedOption !== null) {
      if (this.deploymentOptions.some((option) => option.id === this.requestedOption)) {
        this.chosenOption = this.requestedOption;
      } else {
        const known = this.deploymentOptions.map((option) => option.id).join(', ') || 'none';
        this.refuse(
          'OVF.UNKNOWN_DEPLOYMENT_OPTION',
          `deployment option '${this.requestedOption.slice(0, 128)}' is not in the package (it has: ${known})`,
          section ?? this.root,
        );
      }
    } else {
      const chosen =
        this.deploymentOptions.find((option) => option.isDefault) ?? this.deploymentOptions[0];
      this.chosenOption = chosen?.id ?? null;
    }
  }

  private readDisks(section: XmlElement): void {
    for (const disk of this.children(section, 'Disk')) {
      const diskId = this.requiredAttribute(disk, 'diskId');
      if (diskId === null) continue;
      if (this.disks.has(diskId)) {
        this.refuse('OVF.DUPLICATE_ID', `disk id ${diskId} is declared twice`, disk);
        continue;
      }
      const fileRef = this.attribute(disk, 'fileRef');
      if (fileRef !== null && !this.files.has(fileRef)) {
        this.refuse(
          'OVF.UNRESOLVED_FILE_REF',
          `disk ${diskId} refers to file ${fileRef}, which References does not declare`,
          disk,
        );
      }
      if (this.attribute(disk, 'parentRef') !== null) {
        this.refuse(
          'OVF.UNSUPPORTED_DISK_PARENT',
          `disk ${diskId} is a delta of another disk (ovf:parentRef); Dolly imports whole disks only`,
          disk,
        );
      }
      const capacityBytes = this.readCapacity(disk, diskId);
      const populatedSizeBytes = this.optionalWholeNumber(disk, 'populatedSize', `disk ${diskId}`);
      const formatUri = this.attribute(disk, 'format') ?? '';
      const volumeFormat = this.attribute(disk, 'volume-format');
      const format: DiskImageFormat | null =
        (volumeFormat !== null ? diskFormatOfOvirtVolume(volumeFormat) : null) ??
        diskFormatOfUri(formatUri);
      if (format === null) {
        this.refuse(
          'OVF.UNSUPPORTED_DISK_FORMAT',
          formatUri === ''
            ? `disk ${diskId} declares no ovf:format`
            : `disk ${diskId} has format ${formatUri.slice(0, 256)}, which Dolly does not read (VMDK streamOptimized, monolithicSparse or monolithicFlat, raw, qcow2)`,
          disk,
        );
      }
      this.disks.set(diskId, {
        diskId,
        fileRef,
        capacityBytes: capacityBytes ?? 0,
        populatedSizeBytes,
        formatUri,
        format,
      });
    }
  }

  /** ovf:capacity may be a number of units, or `${property}` naming a ProductSection property. */
  private readCapacity(disk: XmlElement, diskId: string): number | null {
    let capacity = this.requiredAttribute(disk, 'capacity');
    if (capacity === null) return null;
    const reference = /^\$\{(.+)\}$/.exec(capacity.trim());
    if (reference !== null) {
      const resolved = this.propertyDefault(reference[1]);
      if (resolved === null) {
        this.refuse(
          'OVF.BAD_NUMBER',
          `disk ${diskId}: capacity refers to property ${reference[1]}, which has no default value`,
          disk,
        );
        return null;
      }
      capacity = resolved;
    }
    const scaled = scaleToBytes(capacity, this.attribute(disk, 'capacityAllocationUnits'), 'byte');
    if (!scaled.ok) {
      this.refuse(
        'OVF.BAD_NUMBER',
        `disk ${diskId}: capacity ${capacity.slice(0, 64)}: ${scaled.problem}`,
        disk,
      );
      return null;
    }
    return scaled.value;
  }

  private propertyDefault(key: string): string | null {
    const pending: XmlElement[] = [this.root];
    while (pending.length > 0) {
      const element = pending.pop()!;
      if (
        element.uri === this.ovf &&
        element.local === 'Property' &&
        this.attribute(element, 'key') === key
      ) {
        return this.attribute(element, 'value');
      }
      pending.push(...element.children);
    }
    return null;
  }

  private readNetworks(section: XmlElement): void {
    for (const network of this.children(section, 'Network')) {
      const name = this.requiredAttribute(network, 'name');
      if (name === null) continue;
      if (this.networks.has(name)) {
        this.refuse('OVF.DUPLICATE_ID', `network ${name} is declared twice`, network);
        continue;
      }
      this.networks.set(name, {
        name,
        description: this.textOf(this.child(network, 'Description')),
      });
    }
  }

  // ---- VirtualSystem and VirtualSystemCollection ----

  private readContent(
    content: XmlElement,
    inheritedProducts: OvfProductProperty[],
  ): OvfVirtualSystem[] {
    this.checkExtensions(content);
    const id = this.requiredAttribute(content, 'id');
    if (id !== null) {
      if (this.systemIds.has(id))
        this.refuse('OVF.DUPLICATE_ID', `virtual system id ${id} is used twice`, content);
      this.systemIds.add(id);
    }
    const products = [...inheritedProducts, ...this.readProducts(content, inheritedProducts)];
    if (content.local === 'VirtualSystemCollection') {
      const members = content.children.filter(
        (child) =>
          child.uri === this.ovf &&
          (child.local === 'VirtualSystem' || child.local === 'VirtualSystemCollection'),
      );
      if (members.length === 0)
        this.refuse('OVF.MISSING_SECTION', `collection ${id} holds no VirtualSystem`, content);
      return members.flatMap((member) => this.readContent(member, products));
    }

    const hardwareSections = this.children(content, 'VirtualHardwareSection');
    if (hardwareSections.length === 0) {
      this.refuse(
        'OVF.MISSING_SECTION',
        `virtual system ${id} has no VirtualHardwareSection`,
        content,
      );
      return [];
    }
    // Several sections describe the same system for different platforms; vSphere's is preferred.
    const hardwareSection =
      hardwareSections.find((section) => /vmx-\d/.test(this.systemType(section) ?? '')) ??
      hardwareSections[0];
    const hardware = this.readHardware(hardwareSection, id ?? '?');
    const osSection = this.child(content, 'OperatingSystemSection');
    const guestOs =
      osSection === null
        ? null
        : (osSection.attributes.get(`${VMW_NAMESPACE} osType`) ?? this.attribute(osSection, 'id'));
    if (!hardware.hasProcessor)
      this.refuse(
        'OVF.MISSING_ELEMENT',
        `virtual system ${id} has no processor item`,
        hardwareSection,
      );
    if (!hardware.hasMemory)
      this.refuse(
        'OVF.MISSING_ELEMENT',
        `virtual system ${id} has no memory item`,
        hardwareSection,
      );
    return [
      {
        id: id ?? '',
        name: this.textOf(this.child(content, 'Name')) ?? id ?? '',
        hardwareVersion: hardware.hardwareVersion,
        guestOs,
        vcpus: hardware.vcpus ?? 0,
        memoryBytes: hardware.memoryBytes ?? 0,
        controllers: hardware.controllers,
        disks: hardware.disks,
        nics: hardware.nics,
        products,
      },
    ];
  }

  private readProducts(content: XmlElement, inherited: OvfProductProperty[]): OvfProductProperty[] {
    const products: OvfProductProperty[] = [];
    const keys = new Set(inherited.map((property) => property.key));
    for (const section of this.children(content, 'ProductSection')) {
      const classId = this.attribute(section, 'class') ?? '';
      const instance = this.attribute(section, 'instance') ?? '';
      for (const element of this.children(section, 'Property')) {
        const bareKey = this.requiredAttribute(element, 'key');
        const type = this.requiredAttribute(element, 'type');
        if (bareKey === null || type === null) continue;
        const key = [classId, bareKey, instance].filter((part) => part !== '').join('.');
        if (keys.has(key)) {
          this.refuse('OVF.DUPLICATE_ID', `product property ${key} is declared twice`, element);
          continue;
        }
        keys.add(key);
        if (!isKnownPropertyType(type)) {
          this.refuse(
            'OVF.BAD_PROPERTY',
            `product property ${key} has type '${type.slice(0, 64)}', not a CIM type OVF allows`,
            element,
          );
        }
        const qualifierText = this.attribute(element, 'qualifiers');
        const qualifiers =
          qualifierText === null
            ? { ok: true as const, qualifiers: { allowedValues: null } }
            : readQualifiers(qualifierText);
        if (!qualifiers.ok) {
          this.refuse(
            'OVF.BAD_PROPERTY',
            `product property ${key}: qualifiers ${qualifiers.problem}`,
            element,
          );
          continue;
        }
        const { allowedValues, ...constraints } = qualifiers.qualifiers;
        products.push({
          key,
          type,
          defaultValue: this.propertyValueFor(element),
          userConfigurable: isTrue(this.attribute(element, 'userConfigurable')),
          label: this.textOf(this.child(element, 'Label')),
          allowedValues,
          constraints,
        });
      }
    }
    return products;
  }

  /** A property's default, or its `<Value ovf:configuration>` for the chosen deployment option. */
  private propertyValueFor(property: XmlElement): string | null {
    for (const value of this.children(property, 'Value')) {
      if (this.appliesToChosenOption(value)) return this.attribute(value, 'value');
    }
    return this.attribute(property, 'value');
  }

  // ---- VirtualHardwareSection ----

  private systemType(section: XmlElement): string | null {
    const system = this.child(section, 'System');
    return system === null
      ? null
      : this.textOf(this.childIn(system, VSSD_NAMESPACE, 'VirtualSystemType'));
  }

  private readHardware(section: XmlElement, systemId: string): Hardware {
    this.checkExtensions(
      section,
      new Set(['Info', 'System', 'Item', 'StorageItem', 'EthernetPortItem']),
    );
    const hardware: Hardware = {
      hardwareVersion: highestVmxVersion(this.systemType(section)),
      vcpus: null,
      memoryBytes: null,
      hasProcessor: false,
      hasMemory: false,
      controllers: [],
      disks: [],
      nics: [],
    };
    const items = this.readItems(section, systemId);
    const controllerKinds = new Map<string, ControllerKind | UnsupportedController>();
    for (const item of items) {
      const kind = controllerKindOf(item);
      if (kind === null) continue;
      if (kind === 'unknown') {
        controllerKinds.set(item.instanceId, item.required ? 'refused' : 'optional');
        if (item.required) {
          this.refuse(
            'OVF.UNKNOWN_CONTROLLER',
            `item ${item.instanceId} of ${systemId} is a controller Dolly cannot provide (ResourceType ${item.resourceType}${item.subtype === null ? '' : `, ${item.subtype}`})`,
            item.element,
          );
        }
        continue;
      }
      controllerKinds.set(item.instanceId, kind);
      hardware.controllers.push({ instanceId: item.instanceId, kind, subtype: item.subtype });
    }
    for (const item of items) {
      switch (item.resourceType) {
        case RESOURCE_TYPE.processor:
          hardware.hasProcessor = true;
          hardware.vcpus =
            this.positiveQuantity(item, `the processor count of ${systemId}`) ?? hardware.vcpus;
          break;
        case RESOURCE_TYPE.memory:
          hardware.hasMemory = true;
          hardware.memoryBytes = this.memoryBytes(item, systemId) ?? hardware.memoryBytes;
          break;
        case RESOURCE_TYPE.diskDrive: {
          const attachment = this.readDiskItem(item, systemId, controllerKinds);
          if (attachment !== null) hardware.disks.push(attachment);
          break;
        }
        case RESOURCE_TYPE.cdDrive:
        case RESOURCE_TYPE.dvdDrive:
          this.checkParent(item, systemId, controllerKinds);
          this.checkDriveImage(item, systemId);
          break;
        case RESOURCE_TYPE.ethernetAdapter: {
          const nic = this.readNic(item, systemId);
          if (nic !== null) hardware.nics.push(nic);
          break;
        }
        default:
        // Video, USB, floppy, serial, sound, VMCI...: the destination provides its own or none.
      }
    }
    return hardware;
  }

  private readItems(section: XmlElement, systemId: string): HardwareItem[] {
    const items: HardwareItem[] = [];
    const instanceIds = new Set<string>();
    for (const element of section.children) {
      if (element.uri !== this.ovf) continue;
      const dataNamespace =
        element.local === 'Item'
          ? RASD_NAMESPACE
          : element.local === 'StorageItem'
            ? SASD_NAMESPACE
            : element.local === 'EthernetPortItem'
              ? EPASD_NAMESPACE
              : null;
      if (dataNamespace === null) continue;
      // ovf:bound min and max items state a range; only the normal item says what to build.
      const bound = this.attribute(element, 'bound');
      if (bound === 'min' || bound === 'max') continue;
      if (!this.appliesToChosenOption(element)) continue;
      for (const child of element.children) {
        if (
          child.uri === dataNamespace ||
          IGNORED_VENDOR_ELEMENTS.has(`${child.uri} ${child.local}`) ||
          !this.isRequired(child)
        )
          continue;
        this.refuse(
          'OVF.UNKNOWN_REQUIRED_ELEMENT',
          `an item of ${systemId} holds {${child.uri}}${child.local}, which Dolly does not know and the package marks required`,
          child,
        );
      }
      const instanceId = this.textOf(this.childIn(element, dataNamespace, 'InstanceID'));
      const resourceTypeText = this.textOf(this.childIn(element, dataNamespace, 'ResourceType'));
      if (instanceId === null) {
        this.refuse('OVF.MISSING_ELEMENT', `an item of ${systemId} has no InstanceID`, element);
        continue;
      }
      if (instanceIds.has(instanceId)) {
        this.refuse(
          'OVF.DUPLICATE_ID',
          `item InstanceID ${instanceId} is used twice in ${systemId}`,
          element,
        );
        continue;
      }
      instanceIds.add(instanceId);
      const resourceType = resourceTypeText === null ? null : parseWholeNumber(resourceTypeText);
      if (resourceType === null) {
        this.refuse(
          resourceTypeText === null ? 'OVF.MISSING_ELEMENT' : 'OVF.BAD_NUMBER',
          `item ${instanceId} of ${systemId} has ${resourceTypeText === null ? 'no ResourceType' : `ResourceType '${resourceTypeText.slice(0, 64)}'`}`,
          element,
        );
        continue;
      }
      items.push({
        element,
        dataNamespace,
        instanceId,
        resourceType,
        subtype: this.itemValue({ element, dataNamespace }, 'ResourceSubType'),
        required: this.isRequired(element),
      });
    }
    return items;
  }

  private readDiskItem(
    item: HardwareItem,
    systemId: string,
    controllerKinds: Map<string, ControllerKind | UnsupportedController>,
  ): OvfDiskAttachment | null {
    this.diskItemSeen = true;
    const controllerInstanceId = this.checkParent(item, systemId, controllerKinds);
    const hostResource = this.itemValue(item, 'HostResource');
    let diskId: string | null = null;
    const diskMatch = hostResource === null ? null : DISK_HOST_RESOURCE.exec(hostResource);
    const fileMatch = hostResource === null ? null : FILE_HOST_RESOURCE.exec(hostResource);
    if (diskMatch !== null) {
      diskId = diskMatch[1];
      if (!this.disks.has(diskId)) {
        this.refuse(
          'OVF.UNRESOLVED_DISK_REF',
          `disk item ${item.instanceId} of ${systemId} refers to disk ${diskId}, which DiskSection does not declare`,
          item.element,
        );
        diskId = null;
      }
    } else if (fileMatch !== null) {
      const fileId = fileMatch[1];
      const disk = [...this.disks.values()].find((candidate) => candidate.fileRef === fileId);
      if (!this.files.has(fileId)) {
        this.refuse(
          'OVF.UNRESOLVED_FILE_REF',
          `disk item ${item.instanceId} of ${systemId} refers to file ${fileId}, which References does not declare`,
          item.element,
        );
      } else if (disk === undefined) {
        this.refuse(
          'OVF.UNRESOLVED_DISK_REF',
          `disk item ${item.instanceId} of ${systemId} refers to file ${fileId}, which no DiskSection disk describes (its capacity and format are unknown)`,
          item.element,
        );
      } else {
        diskId = disk.diskId;
      }
    } else {
      this.refuse(
        'OVF.UNRESOLVED_DISK_REF',
        hostResource === null
          ? `disk item ${item.instanceId} of ${systemId} has no HostResource`
          : `disk item ${item.instanceId} of ${systemId} has HostResource '${hostResource.slice(0, 256)}', neither ovf:/disk/<id> nor ovf:/file/<id>`,
        item.element,
      );
    }
    if (diskId !== null && this.attachedDisks.has(diskId)) {
      this.refuse(
        'OVF.DISK_ATTACHED_TWICE',
        `disk ${diskId} is attached by more than one item`,
        item.element,
      );
      return null;
    }
    if (diskId !== null) this.attachedDisks.add(diskId);
    const addressOnParent = this.optionalItemNumber(item, 'AddressOnParent', systemId);
    if (diskId === null || controllerInstanceId === null) return null;
    return { diskId, controllerInstanceId, addressOnParent, label: this.itemLabel(item) };
  }

  /** The item's controller InstanceID, or null (with a reason unless its controller already has one). */
  private checkParent(
    item: HardwareItem,
    systemId: string,
    controllerKinds: Map<string, ControllerKind | UnsupportedController>,
  ): string | null {
    const parent = this.itemValue(item, 'Parent');
    const kind = parent === null ? undefined : controllerKinds.get(parent);
    if (kind === 'refused') return null;
    if (kind === 'optional') {
      // The package may do without the controller, but not without what hangs on it.
      if (item.required) {
        this.refuse(
          'OVF.UNKNOWN_CONTROLLER',
          `drive item ${item.instanceId} of ${systemId} is on controller ${parent}, of a kind Dolly cannot provide`,
          item.element,
        );
      }
      return null;
    }
    if (kind === undefined) {
      this.refuse(
        'OVF.UNKNOWN_CONTROLLER',
        parent === null
          ? `drive item ${item.instanceId} of ${systemId} has no Parent controller`
          : `drive item ${item.instanceId} of ${systemId} names Parent ${parent.slice(0, 64)}, which is no controller item`,
        item.element,
      );
      return null;
    }
    return parent;
  }

  /** A CD's image (ovf:/file/<id> or ovf:/disk/<id>) must be in the package too. */
  private checkDriveImage(item: HardwareItem, systemId: string): void {
    const hostResource = this.itemValue(item, 'HostResource');
    if (hostResource === null) return;
    const fileMatch = FILE_HOST_RESOURCE.exec(hostResource);
    const diskMatch = DISK_HOST_RESOURCE.exec(hostResource);
    if (fileMatch !== null && !this.files.has(fileMatch[1])) {
      this.refuse(
        'OVF.UNRESOLVED_FILE_REF',
        `drive item ${item.instanceId} of ${systemId} refers to file ${fileMatch[1]}, which References does not declare`,
        item.element,
      );
    }
    if (diskMatch !== null && !this.disks.has(diskMatch[1])) {
      this.refuse(
        'OVF.UNRESOLVED_DISK_REF',
        `drive item ${item.instanceId} of ${systemId} refers to disk ${diskMatch[1]}, which DiskSection does not declare`,
        item.element,
      );
    }
  }

  private readNic(item: HardwareItem, systemId: string): OvfNic | null {
    const network = this.itemValue(item, 'Connection');
    let ok = true;
    if (network === null || !this.networks.has(network)) {
      ok = false;
      this.refuse(
        'OVF.UNKNOWN_NETWORK',
        network === null
          ? `network adapter ${item.instanceId} of ${systemId} has no Connection`
          : `network adapter ${item.instanceId} of ${systemId} is connected to ${network.slice(0, 128)}, which NetworkSection does not declare`,
        item.element,
      );
    }
    const address = this.itemValue(item, 'Address');
    let macAddress: string | null = null;
    if (address !== null) {
      if (MAC_ADDRESS.test(address)) {
        macAddress = address
          .replace(/[:-]/g, '')
          .toLowerCase()
          .replace(/(..)(?!$)/g, '$1:');
      } else {
        ok = false;
        this.refuse(
          'OVF.BAD_MAC_ADDRESS',
          `network adapter ${item.instanceId} of ${systemId} has Address '${address.slice(0, 64)}', not a MAC address`,
          item.element,
        );
      }
    }
    if (!ok) return null;
    return {
      network: network!,
      adapterType: item.subtype,
      macAddress,
      label: this.itemLabel(item),
    };
  }

  private positiveQuantity(item: HardwareItem, what: string): number | null {
    const text = this.itemValue(item, 'VirtualQuantity');
    const value = text === null ? null : parseWholeNumber(text);
    if (value === null || value === 0) {
      this.refuse(
        'OVF.BAD_NUMBER',
        `${what} is ${text === null ? 'missing' : `'${text.slice(0, 64)}'`}, not a positive whole number`,
        item.element,
      );
      return null;
    }
    return value;
  }

  /** Memory without AllocationUnits is in MiB, as vSphere reads it. */
  private memoryBytes(item: HardwareItem, systemId: string): number | null {
    const quantity = this.itemValue(item, 'VirtualQuantity');
    if (quantity === null) {
      this.refuse(
        'OVF.BAD_NUMBER',
        `the memory item of ${systemId} has no VirtualQuantity`,
        item.element,
      );
      return null;
    }
    const scaled = scaleToBytes(quantity, this.itemValue(item, 'AllocationUnits'), 'byte * 2^20');
    if (!scaled.ok) {
      this.refuse('OVF.BAD_NUMBER', `the memory of ${systemId}: ${scaled.problem}`, item.element);
      return null;
    }
    return scaled.value;
  }

  private optionalItemNumber(item: HardwareItem, name: string, systemId: string): number | null {
    const text = this.itemValue(item, name);
    if (text === null) return null;
    const value = parseWholeNumber(text);
    if (value === null)
      this.refuse(
        'OVF.BAD_NUMBER',
        `${name} of item ${item.instanceId} of ${systemId} is '${text.slice(0, 64)}', not a whole number`,
        item.element,
      );
    return value;
  }

  private itemLabel(item: HardwareItem): string | null {
    return this.itemValue(item, 'ElementName') ?? this.itemValue(item, 'Caption');
  }

  private itemValue(
    item: Pick<HardwareItem, 'element' | 'dataNamespace'>,
    name: string,
  ): string | null {
    return this.textOf(this.childIn(item.element, item.dataNamespace, name));
  }

  // ---- sections Dolly does not know ----

  /**
   * A section (or vendor element) Dolly does not read may change what the package means; OVF lets
   * the package say whether that matters (ovf:required, true unless stated).
   */
  private checkExtensions(
    container: XmlElement,
    knownNames: Set<string> = KNOWN_OVF_SECTIONS,
  ): void {
    for (const child of container.children) {
      if (child.uri === this.ovf && knownNames.has(child.local)) continue;
      if (IGNORED_VENDOR_ELEMENTS.has(`${child.uri} ${child.local}`) || !this.isRequired(child))
        continue;
      this.refuse(
        'OVF.UNKNOWN_REQUIRED_SECTION',
        `{${child.uri}}${child.local} is a section Dolly does not know, and the package marks it required`,
        child,
      );
    }
  }

  // ---- small readers ----

  private appliesToChosenOption(element: XmlElement): boolean {
    const configuration = this.attribute(element, 'configuration');
    if (configuration === null) return true;
    return this.chosenOption !== null && configuration.split(/\s+/).includes(this.chosenOption);
  }

  private isRequired(element: XmlElement): boolean {
    const required = this.attribute(element, 'required');
    return required === null || isTrue(required);
  }

  /** OVF attributes are qualified (ovf:id); some writers leave the prefix out, which reads the same. */
  private attribute(element: XmlElement, name: string): string | null {
    return (
      element.attributes.get(`${this.ovf} ${name}`) ?? element.attributes.get(` ${name}`) ?? null
    );
  }

  private requiredAttribute(element: XmlElement, name: string): string | null {
    const value = this.attribute(element, name);
    if (value === null || value.trim() === '') {
      this.refuse('OVF.MISSING_ATTRIBUTE', `${element.local} has no ovf:${name}`, element);
      return null;
    }
    return value;
  }

  private optionalWholeNumber(element: XmlElement, name: string, what: string): number | null {
    const text = this.attribute(element, name);
    if (text === null) return null;
    const value = parseWholeNumber(text);
    if (value === null)
      this.refuse(
        'OVF.BAD_NUMBER',
        `${what}: ovf:${name} '${text.slice(0, 64)}' is not a whole number within range`,
        element,
      );
    return value;
  }

  private child(element: XmlElement, local: string): XmlElement | null {
    return this.childIn(element, this.ovf, local);
  }

  private childIn(element: XmlElement, uri: string, local: string): XmlElement | null {
    return element.children.find((child) => child.uri === uri && child.local === local) ?? null;
  }

  private children(element: XmlElement, local: string): XmlElement[] {
    return element.children.filter((child) => child.uri === this.ovf && child.local === local);
  }

  /** Trimmed text; null when absent, empty or xsi:nil. */
  private textOf(element: XmlElement | null): string | null {
    if (element === null || element.attributes.get(`${XSI_NAMESPACE} nil`) === 'true') return null;
    const text = element.text.trim();
    return text === '' ? null : text;
  }

  private refuse(code: string, detail: string, element: XmlElement): void {
    if (this.reasons.length >= this.maxReasons) {
      this.reasons.push({
        code: 'OVF.TOO_MANY_REASONS',
        detail: `more than ${this.maxReasons} reasons; the rest are left out`,
      });
      throw new ReasonsExhausted();
    }
    this.reasons.push({ code, detail, at: pathOf(element) });
  }
}

function isTrue(value: string | null): boolean {
  return value !== null && (value.trim() === 'true' || value.trim() === '1');
}

/** `vmx-10 vmx-13` → `vmx-13`: the package runs on any listed version, so the newest is what it needs at most. */
function highestVmxVersion(systemType: string | null): string | null {
  let highest: { token: string; version: number } | null = null;
  for (const token of systemType?.split(/[\s,]+/) ?? []) {
    const match = /^vmx-(\d{1,3})$/.exec(token);
    if (match !== null && (highest === null || Number(match[1]) > highest.version)) {
      highest = { token, version: Number(match[1]) };
    }
  }
  return highest?.token ?? null;
}

/** What controller an item is: a kind Dolly provides, 'unknown' for one it cannot, null for no controller. */
function controllerKindOf(item: HardwareItem): ControllerKind | 'unknown' | null {
  const subtype = item.subtype?.toLowerCase() ?? '';
  switch (item.resourceType) {
    case RESOURCE_TYPE.ideController:
      return 'ide';
    case RESOURCE_TYPE.parallelScsiHba:
      return 'scsi';
    case RESOURCE_TYPE.fibreChannelHba:
    case RESOURCE_TYPE.iscsiHba:
    case RESOURCE_TYPE.infinibandHca:
      return 'unknown';
    case RESOURCE_TYPE.other:
    case RESOURCE_TYPE.otherStorageDevice:
      if (SATA_SUBTYPES.has(subtype)) return 'sata';
      if (NVME_SUBTYPES.has(subtype)) return 'nvme';
      // Type 1 also holds VMCI and other devices; type 20 is always some storage controller.
      return item.resourceType === RESOURCE_TYPE.otherStorageDevice ? 'unknown' : null;
    default:
      return null;
  }
}

/** Why an href cannot name a member of the package, or null. */
function fileHrefProblem(href: string): string | null {
  if (href.trim() === '') return 'is empty';
  if (/^[a-z][a-z0-9+.-]*:/i.test(href))
    return 'is a URL; Dolly reads only files inside the package';
  if (href.startsWith('/') || href.startsWith('\\')) return 'is an absolute path';
  if (href.split(/[/\\]/).some((segment) => segment === '..'))
    return 'climbs out of the package (..)';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(href)) return 'holds control characters';
  return null;
}
