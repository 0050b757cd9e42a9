/**
 * The OVF package model shared by the descriptor parser, the package reader and writer, and the
 * import and export use cases. A package is untrusted input: everything here is what was read
 * and checked, never what the package merely claims until a check says so.
 */

/** One reason a package is refused; every reason is collected, never only the first. */
export interface PackageReason {
  /** Stable code, e.g. 'OVF.DTD_FORBIDDEN', 'OVA.PATH_TRAVERSAL', 'MANIFEST.DIGEST_MISMATCH'. */
  code: string;
  /** What is wrong, for humans (names the member, element or file). */
  detail: string;
  /** Where: a member name, a file href or an element path (`/Envelope/DiskSection/Disk[2]`). */
  at?: string;
}

/** A package that fails its checks; carries every reason found. */
export class PackageRefused extends Error {
  constructor(readonly reasons: PackageReason[]) {
    super(reasons.map((reason) => reason.detail).join('; '));
    this.name = 'PackageRefused';
  }
}

/** A file of the References section. */
export interface OvfFileReference {
  id: string;
  href: string;
  /** ovf:size: bytes of the file as stored (compressed, all chunks together); absent when not declared. */
  sizeBytes: number | null;
  compression: 'gzip' | null;
  /** ovf:chunkSize: the file is split in members `<href>.000000000`, `.000000001`, ... */
  chunkSizeBytes: number | null;
}

/** Disk image formats a package may carry (DiskSection's ovf:format URI, or sniffed). */
export type DiskImageFormat =
  'vmdk-streamOptimized' | 'vmdk-monolithicSparse' | 'vmdk-monolithicFlat' | 'raw' | 'qcow2';

/** A disk of the DiskSection. */
export interface OvfDisk {
  diskId: string;
  /** The file holding its content; null: a new blank disk. */
  fileRef: string | null;
  capacityBytes: number;
  populatedSizeBytes: number | null;
  /** The declared ovf:format URI, as written. */
  formatUri: string;
  /** What the URI names; null when Dolly does not know it (a reason then says so). */
  format: DiskImageFormat | null;
}

export type ControllerKind = 'scsi' | 'ide' | 'sata' | 'nvme';

export interface OvfController {
  instanceId: string;
  kind: ControllerKind;
  /** ResourceSubType as written (lsilogic, pvscsi, ahci, PIIX4, ...). */
  subtype: string | null;
}

export interface OvfDiskAttachment {
  /** The DiskSection disk (from `ovf:/disk/<id>`). */
  diskId: string;
  controllerInstanceId: string;
  addressOnParent: number | null;
  label: string | null;
}

export interface OvfNic {
  network: string;
  /** ResourceSubType (E1000, VmxNet3, ...). */
  adapterType: string | null;
  /** Lower-case, colon-separated; null when the package leaves it to the destination. */
  macAddress: string | null;
  label: string | null;
}

export interface OvfProductProperty {
  /** `<class>.<key>.<instance>` with empty parts left out, as vSphere names it. */
  key: string;
  type: string;
  defaultValue: string | null;
  userConfigurable: boolean;
  label: string | null;
  /** Allowed values from a qualifier such as ValueMap{"a","b"}; null: any value of the type. */
  allowedValues: string[] | null;
  /** Limits from the other qualifiers: MinLen/MaxLen (characters) and MinValue/MaxValue (numbers); absent: none. */
  constraints?: { minLength?: number; maxLength?: number; minValue?: number; maxValue?: number };
}

export interface OvfDeploymentOption {
  id: string;
  label: string;
  isDefault: boolean;
}

/** One VirtualSystem, with its hardware as chosen for one deployment option. */
export interface OvfVirtualSystem {
  id: string;
  name: string;
  /** vmx-NN as read from VirtualSystemType (the highest when several are listed); null: none. */
  hardwareVersion: string | null;
  /** OperatingSystemSection's osType (vSphere guest id) or its ovf:id number as text. */
  guestOs: string | null;
  vcpus: number;
  memoryBytes: number;
  controllers: OvfController[];
  disks: OvfDiskAttachment[];
  nics: OvfNic[];
  products: OvfProductProperty[];
}

/** A descriptor that passed every check. */
export interface OvfEnvelope {
  references: OvfFileReference[];
  disks: OvfDisk[];
  networks: { name: string; description: string | null }[];
  deploymentOptions: OvfDeploymentOption[];
  /** Every VirtualSystem (one, or each of a VirtualSystemCollection's), with the chosen option applied. */
  virtualSystems: OvfVirtualSystem[];
}

/** What the descriptor writer needs to describe a Dolly VM (export). */
export interface DescribedVm {
  name: string;
  hardwareVersion: string;
  guestOs: string;
  vcpus: number;
  memoryBytes: number;
  disks: {
    diskId: string;
    label: string;
    capacityBytes: number;
    fileName: string;
    /** The whole file's bytes, chunked or not. */
    fileSizeBytes: number;
    /** Stored as chunks of this many bytes (ovf:chunkSize), when one member cannot hold it. */
    fileChunkBytes?: number;
  }[];
  /** adapterType: the ResourceSubType written (E1000 when absent, as every guest drives it). */
  nics: { network: string; macAddress: string; adapterType?: 'E1000' | 'VmxNet3' }[];
}

/** What parsing a descriptor gives: the envelope, or every reason it is refused. */
export type ParsedDescriptor =
  { ok: true; envelope: OvfEnvelope } | { ok: false; reasons: PackageReason[] };

/** A write's guest data: one buffer, or contiguous parts in order. */
export type GuestData = Buffer | readonly Buffer[];

/**
 * Where a disk's content goes as the package is read (the worker's disk engine, in a test a
 * file). Formats that decode as a stream (streamOptimized VMDK, raw, monolithicFlat) arrive as
 * writes of guest data; formats that need random access (monolithicSparse VMDK, qcow2) are
 * spooled whole to a temporary file and converted from it.
 */
export interface DiskSink {
  /**
   * Guest data at an offset of the disk; regions never written read as zeros. The data is one
   * buffer or contiguous parts in order, written as one (never joined into a copy first).
   */
  write(offsetBytes: number, data: GuestData): Promise<void>;
  /** The image file's bytes in order, to be converted once complete. */
  spool(content: AsyncIterable<Buffer>, format: 'vmdk' | 'qcow2'): Promise<void>;
}
