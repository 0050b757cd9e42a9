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
