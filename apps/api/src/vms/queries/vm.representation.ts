import { Nic, PowerState, VirtualDisk, VirtualHardware, VmOrigin, VmRole } from '@dolly/domain';
import type { VmRow } from '@dolly/read-models';
import { type Static, Type } from '@sinclair/typebox';
import { LiveExportView, type Reader, liveExportView } from '../../shared/live-disk-access';

const Uuid = Type.String({ format: 'uuid' });

export const VmView = Type.Object(
  {
    vmId: Uuid,
    name: Type.String(),
    folder: Type.String(),
    role: VmRole,
    powerState: PowerState,
    lifecycle: Type.String({ description: 'provisioning (disks being made), ready, deleting.' }),
    hostId: Uuid,
    datastoreId: Uuid,
    hardware: VirtualHardware,
    disks: Type.Array(
      Type.Composite([
        VirtualDisk,
        Type.Object({
          layerId: Type.Union([Type.String(), Type.Null()], {
            description: 'The layer its writes go to.',
          }),
          allocatedBytes: Type.Union([Type.Integer(), Type.Null()], {
            description: 'Bytes its own layer takes.',
          }),
        }),
      ]),
    ),
    nics: Type.Array(Nic),
    biosUuid: Uuid,
    origin: VmOrigin,
    poolId: Type.Union([Uuid, Type.Null()], {
      description:
        'The pool that owns it and alone changes it (its internal template, replicas, parents, desktops); null otherwise.',
    }),
    busyWith: Type.Union([Type.Object({ taskId: Uuid, operation: Type.String() }), Type.Null()]),
    clonesInProgress: Type.Array(
      Type.Object({ taskId: Uuid, targetVmId: Uuid, linked: Type.Boolean() }),
    ),
    forksInProgress: Type.Array(Type.Object({ taskId: Uuid, targetVmId: Uuid }), {
      description: 'Instant clones being forked from it (it keeps running until they end).',
    }),
    linkedClones: Type.Array(Uuid, {
      description: 'Linked clones (and instant clones, for a replica) standing on its layers.',
    }),
    snapshots: Type.Array(
      Type.Object({
        snapshotId: Uuid,
        name: Type.String(),
        description: Type.String(),
        parentSnapshotId: Type.Union([Uuid, Type.Null()]),
      }),
    ),
    currentSnapshotId: Type.Union([Uuid, Type.Null()]),
    live: Type.Union(
      [
        Type.Object({
          workerId: Type.String({ description: 'The worker whose storage daemon holds them.' }),
          exports: Type.Array(LiveExportView),
          memoryImage: LiveExportView,
        }),
        Type.Null(),
      ],
      {
        description:
          'While powered on: its disks and memory image, open and exported over NBD (their URIs for roles that may attach disks only).',
      },
    ),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    version: Type.Integer({
      description: 'Stream version; send it back in If-Match to change the VM only if unchanged.',
    }),
  },
  { description: 'A VM or template as the inventory shows it.' },
);
export type VmView = Static<typeof VmView>;

/** A VM's snapshots, oldest first, and the one it runs from: `GET /vms/{vmId}/snapshots`. */
export const SnapshotsView = Type.Pick(VmView, ['snapshots', 'currentSnapshotId']);
export type SnapshotsView = Static<typeof SnapshotsView>;

/** The VM as `reader` may see it (live exports' URIs only for roles that may attach disks). */
export function vmView(row: VmRow, reader: Reader): VmView {
  const vm = row.state;
  return {
    vmId: vm.vmId,
    name: vm.name,
    folder: vm.folder,
    role: vm.role,
    powerState: vm.powerState,
    lifecycle: vm.lifecycle,
    hostId: vm.hostId,
    datastoreId: vm.datastoreId,
    hardware: vm.hardware,
    disks: vm.disks.map((disk) => {
      const placed = vm.placements.find((p) => p.diskId === disk.diskId);
      return {
        ...disk,
        layerId: placed?.layerId ?? null,
        allocatedBytes: placed?.allocatedBytes ?? null,
      };
    }),
    nics: vm.nics,
    biosUuid: vm.biosUuid,
    origin: vm.origin,
    poolId: vm.poolId,
    busyWith: vm.busy && { taskId: vm.busy.taskId, operation: vm.busy.operation },
    clonesInProgress: vm.clones,
    // Rows written before forks existed have no list.
    forksInProgress: vm.forks ?? [],
    linkedClones: vm.linkedClones,
    snapshots: vm.snapshots.map(({ snapshotId, name, description, parentSnapshotId }) => ({
      snapshotId,
      name,
      description,
      parentSnapshotId,
    })),
    currentSnapshotId: vm.currentSnapshotId,
    live: vm.live && {
      workerId: vm.live.workerId,
      exports: vm.live.exports.map((exported) => liveExportView(exported, reader)),
      memoryImage: liveExportView(vm.live.memoryImage, reader),
    },
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    version: row.version,
  };
}
