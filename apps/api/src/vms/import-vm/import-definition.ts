import {
  type DiskFormat,
  type ErrorReason,
  SECTOR_BYTES,
  type VirtualDisk,
  type VmDefinition,
} from '@dolly/domain';
import type { DiskImageFormat, OvfEnvelope, OvfVirtualSystem, PackageReason } from '@dolly/ovf';
import type { ImportDiskFormat, ImportTarget } from './import-vm.request';

/** The bounds VmCreated's schema puts on a VM (libs/domain vm.events.ts); a package beyond them is refused. */
const MIB = 1024 * 1024;
const MIN_MEMORY_BYTES = 4 * MIB;
const MAX_MEMORY_BYTES = 24 * 1024 ** 4;
const MAX_VCPUS = 768;
const MIN_DISK_BYTES = MIB;
const MAX_DISK_BYTES = 62 * 1024 ** 4;
const MAX_DISKS = 64;
const MAX_NICS = 10;
const MAX_NETWORK_NAME = 80;
const MAX_GUEST_OS = 64;
const HARDWARE_VERSION = /^vmx-\d{1,3}$/;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
export const DEFAULT_GUEST_OS = 'otherGuest';

/** New identities the import gives what it makes: ids and MACs come from outside (the domain has no randomness). */
export interface ImportIdentity {
  vmId: string;
  biosUuid: string;
  newDiskId(): string;
  newMacAddress(): string;
}

export interface ImportPlan {
  definition: VmDefinition;
  virtualSystemId: string;
  /** The DiskSection disk each of the definition's disks is made from, in the same order. */
  ovfDiskIds: string[];
  /** Space each disk holds once written, as the package declares it (its capacity when it does not say). */
  populatedBytes: number[];
  /** Every reason the package, as the caller chose to deploy it, cannot make this VM. */
  reasons: ErrorReason[];
}

/** A package's reason as a problem's: `at` (where in the package) travels with it. */
export function packageReasonToError(reason: PackageReason): ErrorReason {
  return { code: reason.code, detail: reason.detail, ...(reason.at ? { at: reason.at } : {}) };
}

/** thin for formats that store only what was written, thick lazy-zeroed for those that store every byte. */
export function formatAsInPackage(format: DiskImageFormat | null): DiskFormat {
  return format === 'vmdk-monolithicFlat' || format === 'raw' ? 'thick-lazy-zeroed' : 'thin';
}

function diskFormatOf(chosen: ImportDiskFormat, inPackage: DiskImageFormat | null): DiskFormat {
  return chosen === 'as-in-package' ? formatAsInPackage(inPackage) : chosen;
}

/** The VirtualSystem to import: the only one, or the one named (a collection of several needs a name). */
export function chooseVirtualSystem(
  envelope: OvfEnvelope,
  virtualSystemId: string | undefined,
): { system: OvfVirtualSystem | null; reasons: ErrorReason[] } {
  const systems = envelope.virtualSystems;
  const ids = systems.map((s) => s.id).join(', ');
  if (virtualSystemId !== undefined) {
    const system = systems.find((s) => s.id === virtualSystemId) ?? null;
    return system
      ? { system, reasons: [] }
      : {
          system: null,
          reasons: [
            {
              code: 'IMPORT.UNKNOWN_VIRTUAL_SYSTEM',
              detail: `The package has no VirtualSystem ${virtualSystemId} (it has ${ids || 'none'})`,
              pointer: '/virtualSystemId',
            },
          ],
        };
  }
  if (systems.length === 1) return { system: systems[0], reasons: [] };
  return {
    system: null,
    reasons: [
      systems.length === 0
        ? { code: 'IMPORT.NO_VIRTUAL_SYSTEM', detail: 'The package describes no VirtualSystem' }
        : {
            code: 'IMPORT.VIRTUAL_SYSTEM_REQUIRED',
            detail: `The package holds ${systems.length} VirtualSystems (${ids}): name the one to import`,
            pointer: '/virtualSystemId',
          },
    ],
  };
}

/** The caller's choices that name something the package does not have (the mapping's networks, the option). */
export function choiceReasons(envelope: OvfEnvelope, target: ImportTarget): ErrorReason[] {
  const reasons: ErrorReason[] = [];
  const networks = new Set([
    ...envelope.networks.map((n) => n.name),
    ...envelope.virtualSystems.flatMap((s) => s.nics.map((nic) => nic.network)),
  ]);
  for (const [network, portGroup] of Object.entries(target.networkMapping ?? {})) {
    if (!networks.has(network))
      reasons.push({
        code: 'IMPORT.UNKNOWN_NETWORK',
        detail: `The package names no network ${JSON.stringify(network)} (it names ${[...networks].map((n) => JSON.stringify(n)).join(', ') || 'none'}); it cannot be mapped to ${portGroup}`,
        pointer: `/networkMapping/${escapePointer(network)}`,
      });
  }
  const option = target.deploymentOption;
  if (option !== undefined && !envelope.deploymentOptions.some((o) => o.id === option))
    reasons.push({
      code: 'IMPORT.UNKNOWN_DEPLOYMENT_OPTION',
      detail: `The package offers no deployment option ${JSON.stringify(option)} (it offers ${envelope.deploymentOptions.map((o) => o.id).join(', ') || 'none'})`,
      pointer: '/deploymentOption',
    });
  return reasons;
}

/** RFC 6901: a key in a JSON pointer. */
const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

const roundUp = (value: number, unit: number) => Math.ceil(value / unit) * unit;

/**
 * The VM a VirtualSystem makes, as the caller chose to deploy it: its hardware (the package's,
 * memory in whole MiB, the host's newest hardware version when the package names none), a new
 * disk per attached DiskSection disk (capacity in whole sectors) and a NIC per Ethernet item (on
 * the mapped port group, with the package's MAC when it is a usable one nobody has). Everything
 * Dolly cannot represent is a reason, every one of them.
 */
export function planImport(input: {
  envelope: OvfEnvelope;
  system: OvfVirtualSystem;
  target: ImportTarget;
  identity: ImportIdentity;
  /** The host's newest hardware version; null when the host is not registered (the domain says so). */
  hostMaxHardwareVersion: string | null;
  /** MACs other VMs of the inventory have. */
  macAddressesInUse: ReadonlySet<string>;
}): ImportPlan {
  const { envelope, system, target, identity } = input;
  const reasons: ErrorReason[] = [];
  const at = `VirtualSystem ${system.id}`;

  if (system.vcpus < 1 || system.vcpus > MAX_VCPUS || !Number.isInteger(system.vcpus))
    reasons.push({
      code: 'IMPORT.VCPUS_OUT_OF_RANGE',
      detail: `${at} asks for ${system.vcpus} vCPUs; a VM has 1 to ${MAX_VCPUS}`,
    });
  const memoryBytes = Math.max(MIN_MEMORY_BYTES, roundUp(system.memoryBytes, MIB));
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes > MAX_MEMORY_BYTES)
    reasons.push({
      code: 'IMPORT.MEMORY_OUT_OF_RANGE',
      detail: `${at} asks for ${system.memoryBytes} bytes of memory; a VM has at most ${MAX_MEMORY_BYTES}`,
    });
  const hardwareVersion = system.hardwareVersion ?? input.hostMaxHardwareVersion ?? 'vmx-4';
  if (!HARDWARE_VERSION.test(hardwareVersion))
    reasons.push({
      code: 'IMPORT.HARDWARE_VERSION_INVALID',
      detail: `${at} names virtual hardware ${JSON.stringify(hardwareVersion)}, not vmx-N`,
    });
  const guestOs = system.guestOs ?? DEFAULT_GUEST_OS;
  if (guestOs.length === 0 || guestOs.length > MAX_GUEST_OS)
    reasons.push({
      code: 'IMPORT.GUEST_OS_INVALID',
      detail: `${at} names a guest OS of ${guestOs.length} characters; 1 to ${MAX_GUEST_OS} are allowed`,
    });

  if (system.disks.length > MAX_DISKS)
    reasons.push({
      code: 'IMPORT.TOO_MANY_DISKS',
      detail: `${at} attaches ${system.disks.length} disks; a VM has at most ${MAX_DISKS}`,
    });
  const disks: VirtualDisk[] = [];
  const ovfDiskIds: string[] = [];
  const populatedBytes: number[] = [];
  const chosenFormat = target.diskFormat ?? 'as-in-package';
  for (const attachment of system.disks.slice(0, MAX_DISKS)) {
    const disk = envelope.disks.find((d) => d.diskId === attachment.diskId);
    if (!disk) {
      reasons.push({
        code: 'IMPORT.DISK_NOT_FOUND',
        detail: `${at} attaches disk ${attachment.diskId}, which the DiskSection does not describe`,
      });
      continue;
    }
    const capacityBytes = Math.max(MIN_DISK_BYTES, roundUp(disk.capacityBytes, SECTOR_BYTES));
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes > MAX_DISK_BYTES)
      reasons.push({
        code: 'IMPORT.DISK_TOO_LARGE',
        detail: `Disk ${disk.diskId} has a capacity of ${disk.capacityBytes} bytes; a disk holds at most ${MAX_DISK_BYTES}`,
      });
    disks.push({
      diskId: identity.newDiskId(),
      label: `Hard disk ${disks.length + 1}`,
      capacityBytes,
      format: diskFormatOf(chosenFormat, disk.format),
    });
    ovfDiskIds.push(disk.diskId);
    populatedBytes.push(Math.min(capacityBytes, disk.populatedSizeBytes ?? capacityBytes));
  }

  if (system.nics.length > MAX_NICS)
    reasons.push({
      code: 'IMPORT.TOO_MANY_NICS',
      detail: `${at} has ${system.nics.length} network adapters; a VM has at most ${MAX_NICS}`,
    });
  const mapping = target.networkMapping ?? {};
  const taken = new Set(input.macAddressesInUse);
  const nics = system.nics.slice(0, MAX_NICS).map((nic) => {
    const network = Object.hasOwn(mapping, nic.network) ? mapping[nic.network] : nic.network;
    if (network.length === 0 || network.length > MAX_NETWORK_NAME)
      reasons.push({
        code: 'IMPORT.NETWORK_NAME_INVALID',
        detail: `A NIC is on network ${JSON.stringify(network.slice(0, 100))}: a port group name has 1 to ${MAX_NETWORK_NAME} characters; map it to one (networkMapping)`,
        pointer: '/networkMapping',
      });
    const packaged = nic.macAddress?.toLowerCase() ?? null;
    const macAddress =
      packaged !== null && usableMac(packaged) && !taken.has(packaged)
        ? packaged
        : freshMac(identity, taken);
    taken.add(macAddress);
    return { network, macAddress };
  });

  return {
    definition: {
      vmId: identity.vmId,
      name: target.name,
      folder: target.folder ?? '/',
      hostId: target.hostId,
      datastoreId: target.datastoreId,
      hardware: { vcpus: system.vcpus, memoryBytes, hardwareVersion, guestOs },
      disks,
      nics,
      biosUuid: identity.biosUuid,
    },
    virtualSystemId: system.id,
    ovfDiskIds,
    populatedBytes,
    reasons,
  };
}

/** A unicast address that is not all zeros: a package's multicast or empty MAC is replaced. */
function usableMac(mac: string): boolean {
  return MAC.test(mac) && (parseInt(mac.slice(0, 2), 16) & 1) === 0 && mac !== '00:00:00:00:00:00';
}

/** Draws of a new MAC before giving up: Dolly's are random in a 46-bit space, so one clash is already rare. */
const MAC_DRAWS = 100;

/** A new MAC no other NIC has. */
function freshMac(identity: ImportIdentity, taken: ReadonlySet<string>): string {
  for (let draw = 0; draw < MAC_DRAWS; draw++) {
    const mac = identity.newMacAddress();
    if (!taken.has(mac)) return mac;
  }
  throw new Error(`No unused MAC address in ${MAC_DRAWS} draws`);
}
