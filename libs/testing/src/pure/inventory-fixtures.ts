import type { DatastoreEvent, Event, HostEvent, VmEvent } from '@dolly/domain';
import { goldenImageEvents, numberedId } from './pool-fixtures';

const GiB = 1024 ** 3;

/** A host that runs up to vmx-19, 16 cores, 256 GiB. */
export const hostRegistered = (hostId: string, name = 'esx-01'): HostEvent => ({
  type: 'HostRegistered',
  data: {
    hostId,
    name,
    cpuCores: 16,
    memoryBytes: 256 * GiB,
    maxHardwareVersion: 'vmx-19',
    management: 'managed',
  },
});

/** A 1 TiB datastore that may promise four times its capacity. */
export const datastoreRegistered = (
  datastoreId: string,
  name = 'ds-01',
  capacityBytes = 1024 * GiB,
): DatastoreEvent => ({
  type: 'DatastoreRegistered',
  data: {
    datastoreId,
    name,
    capacityBytes,
    folder: `/srv/${name}`,
    overcommitRatio: 4,
    adopted: false,
  },
});

/**
 * A small inventory for workflow specs: a host, a datastore and a powered-off VM on them (one
 * 32 GiB thin disk holding 6 GiB, one NIC, snapshot v1), with readable ids.
 */
export const inventory = {
  hostId: numberedId(0xa1),
  datastoreId: numberedId(0xd1),
  vmId: numberedId(0x1),
  diskId: numberedId(0xd151),
  snapshotId: numberedId(0xa501),
};

export const vmEvents: VmEvent[] = goldenImageEvents({
  vmId: inventory.vmId,
  hostId: inventory.hostId,
  datastoreId: inventory.datastoreId,
  diskId: inventory.diskId,
  snapshotId: inventory.snapshotId,
  biosUuid: numberedId(0xb1),
  createTaskId: numberedId(0xf000),
  snapshotTaskId: numberedId(0xf001),
});

export const hostEvents: Event[] = [hostRegistered(inventory.hostId)];
export const datastoreEvents: DatastoreEvent[] = [datastoreRegistered(inventory.datastoreId)];

/**
 * The VmCreated of a linked clone of the inventory's VM on its snapshot (same hardware, one thin
 * disk of its own on the same host and datastore), as `startClone` records it.
 */
export const linkedCloneCreated = (clone: {
  vmId: string;
  diskId: string;
  name: string;
  macAddress: string;
  biosUuid: string;
  taskId: string;
}): VmEvent => ({
  type: 'VmCreated',
  data: {
    vmId: clone.vmId,
    name: clone.name,
    folder: '/golden',
    role: 'vm',
    hostId: inventory.hostId,
    datastoreId: inventory.datastoreId,
    hardware: {
      vcpus: 2,
      memoryBytes: 4 * GiB,
      hardwareVersion: 'vmx-19',
      guestOs: 'windows11_64Guest',
    },
    disks: [
      { diskId: clone.diskId, label: 'Hard disk 1', capacityBytes: 32 * GiB, format: 'thin' },
    ],
    nics: [{ macAddress: clone.macAddress, network: 'VM Network' }],
    biosUuid: clone.biosUuid,
    provisioningTaskId: clone.taskId,
    origin: {
      kind: 'clone',
      sourceVmId: inventory.vmId,
      snapshotId: inventory.snapshotId,
      linked: true,
      format: 'same',
    },
    poolId: null,
  },
});
