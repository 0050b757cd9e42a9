import type { PoolImageV1 } from '@dolly/contracts';
import type { VmEvent } from '@dolly/domain';

/** The uuid numbered n: ids a test can read (0x5xx a parent, 0x6xx a task...). */
export const numberedId = (n: number) =>
  `0190f3a0-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;

/** Image n of a one-host, one-datastore pool, as v1 events said it. */
export const poolImageV1 = (
  n: number,
  where: { hostId: string; datastoreId: string },
): PoolImageV1 => ({
  goldenVmId: numberedId(0x100),
  snapshotId: numberedId(0x200 + n),
  templateVmId: numberedId(0x300 + n),
  replicaVmId: numberedId(0x400 + n),
  parentVmId: numberedId(0x500 + n),
  ...where,
  taskId: numberedId(0x600 + n),
});

const GiB = 1024 ** 3;

/**
 * The events of a golden image a pool is made from: a 32 GiB VM on one host and datastore,
 * provisioned (6 GiB written), with its snapshot v1 (layer `golden-v1`, top `golden-top-2`).
 */
export function goldenImageEvents(ids: {
  vmId: string;
  hostId: string;
  datastoreId: string;
  diskId: string;
  snapshotId: string;
  biosUuid: string;
  createTaskId: string;
  snapshotTaskId: string;
}): VmEvent[] {
  const { vmId, hostId, datastoreId, diskId, snapshotId } = ids;
  return [
    {
      type: 'VmCreated',
      data: {
        vmId,
        name: 'win11-golden',
        folder: '/golden',
        role: 'vm',
        hostId,
        datastoreId,
        hardware: {
          vcpus: 2,
          memoryBytes: 4 * GiB,
          hardwareVersion: 'vmx-19',
          guestOs: 'windows11_64Guest',
        },
        disks: [{ diskId, label: 'Hard disk 1', capacityBytes: 32 * GiB, format: 'thin' }],
        nics: [{ macAddress: '02:00:00:00:01:01', network: 'VM Network' }],
        biosUuid: ids.biosUuid,
        origin: { kind: 'new' },
        provisioningTaskId: ids.createTaskId,
        poolId: null,
      },
    },
    {
      type: 'VmProvisioned',
      data: {
        vmId,
        taskId: ids.createTaskId,
        disks: [{ diskId, layerId: 'golden-top', allocatedBytes: 6 * GiB }],
      },
    },
    {
      type: 'VmSnapshotRequested',
      data: { vmId, taskId: ids.snapshotTaskId, snapshotId, name: 'v1', description: '' },
    },
    {
      type: 'VmSnapshotTaken',
      data: {
        vmId,
        taskId: ids.snapshotTaskId,
        snapshotId,
        name: 'v1',
        description: '',
        parentSnapshotId: null,
        layers: [{ diskId, layerId: 'golden-v1' }],
        disks: [{ diskId, layerId: 'golden-top-2', allocatedBytes: 0 }],
      },
    },
  ];
}
